package org.meft.plan;

import ai.djl.Device;
import ai.djl.util.cuda.CudaUtils;
import java.lang.management.ManagementFactory;
import java.util.List;
import org.meft.adapter.AdapterCost;
import org.meft.model.Attention;
import org.meft.model.LlamaConfig;
import org.meft.train.RunSpec;

/**
 * How many sequences evaluation decodes together when no batch is given: as many as the device
 * memory holds beside what inference keeps resident (the plan's base weights, adapter parameters
 * and one layer's adapter rows, and a prefill's attention chunk), each sequence taking a KV cache
 * of the model's full length and its prompt's activations ({@link #bytesPerSequence}); at least 1
 * and at most {@link #MAX}, where batching's gain levels off on the CPU (the bench's decode
 * section).
 */
public final class DecodeBatch {
  /** The largest batch chosen. */
  public static final int MAX = 32;

  private DecodeBatch() {}

  /**
   * A prompt's attention in one layer at a time, whatever the batch and the prompt's length: one
   * chunk's float32 scores ({@link Attention#SCORE_CHUNK_BYTES}), their half-precision source or
   * masked copy, and the softmax.
   */
  public static final long PREFILL_ATTENTION_BYTES = 3 * Attention.SCORE_CHUNK_BYTES;

  /**
   * One sequence's decoding memory: keys and values of every layer at the model's {@code maxSeqLen}
   * positions in the weights' type, its float32 logits, and its prompt's widest activations in one
   * layer at that length (the FFN's gate, up and their product [T, F] and six [T, D] arrays, in
   * float32 at most). Its attention scores are not per sequence: the prefill computes them in
   * chunks ({@link #PREFILL_ATTENTION_BYTES}).
   */
  public static long bytesPerSequence(LlamaConfig config, int elementBytes) {
    long t = config.maxSeqLen();
    long kvCache = 2L * config.nLayers() * t * config.kvDim() * elementBytes;
    long promptActivations = t * (3L * config.hiddenDim() + 6L * config.dim()) * Float.BYTES;
    return kvCache + (long) config.vocabSize() * Float.BYTES + promptActivations;
  }

  /**
   * What inference holds whatever the batch: base weights, adapter parameters, the adapter rows of
   * one layer's pass (inference frees a layer's before the next: meft's groups of one layer, as the
   * plan counts them for a micro-batch), and a prefill's attention chunk.
   */
  public static long residentBytes(MemoryPlan plan) {
    PlanInputs in = plan.inputs();
    List<Integer> layers = in.adapter().layers().resolve(in.model().nLayers());
    AdapterCost cost = in.adapter().method().cost(in.adapter(), in.model(), layers, in.tokens());
    return plan.bytes(MemoryPlan.BASE_WEIGHTS)
        + plan.bytes(MemoryPlan.ADAPTER_PARAMETERS)
        + cost.passPerLayer().rows()
        + PREFILL_ATTENTION_BYTES;
  }

  /** The batch for {@code plan} on a device of {@code deviceBytes}. */
  public static int of(MemoryPlan plan, long deviceBytes) {
    PlanInputs in = plan.inputs();
    long free = deviceBytes - residentBytes(plan);
    long batch = free / bytesPerSequence(in.model(), in.baseDtype().bytes());
    return (int) Math.max(1, Math.min(MAX, batch));
  }

  /**
   * The memory decoding may use on {@code device}: the run's {@code device-memory-gb} when set,
   * else the GPU's total memory, or on the CPU the machine's physical memory.
   */
  public static long deviceBytes(RunSpec run, Device device) {
    if (run.deviceMemoryBytes() > 0) {
      return run.deviceMemoryBytes();
    }
    if (device.isGpu()) {
      return CudaUtils.getGpuMemory(device).getMax();
    }
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getTotalMemorySize();
  }
}
