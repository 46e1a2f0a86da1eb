package org.meft.adapter;

import java.util.function.LongUnaryOperator;

/**
 * What one method's adapters cost inside a model, before anything is allocated: added up from the
 * same static functions their meters call ({@code MeftAdapter.passBytes}, {@code
 * ParallelAdapter.residentBytes}, {@code LoraAdapters.passBytes}, ...), so the memory plan and the
 * meters cannot drift apart.
 *
 * @param resident device bytes held for the whole run, every layer
 * @param passPerLayer device bytes one layer's forward holds until its backward
 * @param transientBytes the largest short-lived adapter buffer on top of what is held
 * @param hostToDevicePerPass bus bytes per micro-batch, host to device, every layer
 * @param deviceToHostPerPass bus bytes per micro-batch, device to host, every layer
 * @param hostToDeviceReplayPerPass bus bytes per micro-batch a layer's recomputation moves to the
 *     device again (with activation recomputation), every layer
 * @param hostStore host bytes of the store (keys, values, moments, steps)
 * @param hostGradients host bytes of the gradients staged for the rows in flight, given the
 *     micro-batches per optimizer step
 * @param staging host bytes of the buffers rows are gathered into
 * @param hostMomentElementsPerLayer elements per layer of device parameters whose AdamW moments
 *     live in host memory (meft's routers)
 * @param trainedBaseElements base weights the method trains itself (full): held as float32
 *     trainable parameters, not as frozen base weights
 */
public record AdapterCost(
    DeviceBytes resident,
    DeviceBytes passPerLayer,
    long transientBytes,
    long hostToDevicePerPass,
    long deviceToHostPerPass,
    long hostToDeviceReplayPerPass,
    long hostStore,
    LongUnaryOperator hostGradients,
    long staging,
    long hostMomentElementsPerLayer,
    long trainedBaseElements) {

  /**
   * This method's adapters and {@code other}'s in one model ({@link ComposedMethod}): everything
   * adds up but the short-lived buffer, of which the larger one bounds the peak (each lives only
   * inside its own adapter's forward, so the two never coexist).
   */
  public AdapterCost plus(AdapterCost other) {
    return new AdapterCost(
        resident.plus(other.resident),
        passPerLayer.plus(other.passPerLayer),
        Math.max(transientBytes, other.transientBytes),
        hostToDevicePerPass + other.hostToDevicePerPass,
        deviceToHostPerPass + other.deviceToHostPerPass,
        hostToDeviceReplayPerPass + other.hostToDeviceReplayPerPass,
        hostStore + other.hostStore,
        a -> hostGradients.applyAsLong(a) + other.hostGradients.applyAsLong(a),
        staging + other.staging,
        hostMomentElementsPerLayer + other.hostMomentElementsPerLayer,
        trainedBaseElements + other.trainedBaseElements);
  }

  /** A method whose adapters live on the device only. */
  public static AdapterCost onDevice(
      DeviceBytes resident, DeviceBytes passPerLayer, long transientBytes) {
    return new AdapterCost(resident, passPerLayer, transientBytes, 0, 0, 0, 0, a -> 0, 0, 0, 0);
  }
}
