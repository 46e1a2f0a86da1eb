package org.meft.adapter;

/**
 * Device bytes an adapter's tensors hold, by kind: one accounting that both the {@link
 * AdapterMeters} (while a run trains) and the memory planner ({@code org.meft.plan.MemoryPlan},
 * before anything loads) add up, so the two cannot drift apart.
 *
 * @param parameters trainable parameters that live on the device (meft routers, parallel K and V,
 *     LoRA A and B, full weights)
 * @param rows adapter rows brought to the device for one pass (meft's K_S and V_S)
 * @param activations the adapter's activations kept for backward
 * @param gradients gradients of the parameters and of the rows
 * @param optimizerState AdamW moments held on the device
 */
public record DeviceBytes(
    long parameters, long rows, long activations, long gradients, long optimizerState) {

  public static final DeviceBytes NONE = new DeviceBytes(0, 0, 0, 0, 0);

  public DeviceBytes {
    if (parameters < 0 || rows < 0 || activations < 0 || gradients < 0 || optimizerState < 0) {
      throw new IllegalArgumentException("device bytes must be >= 0: " + this);
    }
  }

  /** A trainable float32 tensor of {@code elements} with its gradient and two AdamW moments. */
  public static DeviceBytes trainedWithMoments(long elements) {
    long bytes = elements * Float.BYTES;
    return new DeviceBytes(bytes, 0, 0, bytes, 2 * bytes);
  }

  public long total() {
    return parameters + rows + activations + gradients + optimizerState;
  }

  public DeviceBytes plus(DeviceBytes o) {
    return new DeviceBytes(
        parameters + o.parameters,
        rows + o.rows,
        activations + o.activations,
        gradients + o.gradients,
        optimizerState + o.optimizerState);
  }

  public DeviceBytes times(long n) {
    return new DeviceBytes(
        parameters * n, rows * n, activations * n, gradients * n, optimizerState * n);
  }
}
