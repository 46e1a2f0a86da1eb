package org.meft.plan;

import org.meft.adapter.AdapterConfig;
import org.meft.model.BaseDtype;
import org.meft.model.LlamaConfig;
import org.meft.reversible.ReversibleConfig;
import org.meft.train.RunSpec;

/**
 * What a memory plan is computed from: the model's shape, the adapter, one micro-batch's shape and
 * the base weights' type.
 *
 * @param model the decoder's shape
 * @param adapter the adapter method and its settings
 * @param batchSize B, sequences per micro-batch
 * @param seqLen T, tokens per sequence (every token is counted as real: the worst case)
 * @param accumulation micro-batches per optimizer step (bus bytes per step)
 * @param recomputeActivations whether only each layer's input is kept for backward
 * @param baseDtype the type the base weights are held in, resolved (not auto)
 * @param reversible the lowest layers made reversible, or {@link ReversibleConfig#NONE}
 */
public record PlanInputs(
    LlamaConfig model,
    AdapterConfig adapter,
    int batchSize,
    int seqLen,
    int accumulation,
    boolean recomputeActivations,
    BaseDtype baseDtype,
    ReversibleConfig reversible) {

  public PlanInputs {
    if (batchSize < 1 || seqLen < 1 || accumulation < 1) {
      throw new IllegalArgumentException(
          "batch size, sequence length and accumulation must be >= 1, got "
              + batchSize
              + ", "
              + seqLen
              + ", "
              + accumulation);
    }
    if (baseDtype == null || baseDtype == BaseDtype.AUTO) {
      throw new IllegalArgumentException("a plan needs a resolved base dtype, got " + baseDtype);
    }
    reversible.depth(model.nLayers()); // refuses more reversible layers than the model has
  }

  /**
   * The inputs of {@code spec} on {@code shape}: T the longest sequence a run can meet (max-length,
   * at most the model's positions), base-dtype auto resolved for a GPU or the CPU.
   */
  public static PlanInputs of(RunSpec spec, ModelShape shape, boolean onGpu) {
    return new PlanInputs(
        shape.config(),
        spec.adapter(),
        spec.train().batchSize(),
        Math.min(spec.train().maxLength(), shape.config().maxSeqLen()),
        spec.train().accumulation(),
        spec.train().recomputeActivations(),
        spec.baseDtype().resolve(onGpu, shape.checkpointType()),
        spec.train().reversible());
  }

  /** B T, the tokens of one micro-batch. */
  public long tokens() {
    return (long) batchSize * seqLen;
  }

  /** How many of the lowest layers are reversible (0: none). */
  public int reversibleLayers() {
    return reversible.depth(model.nLayers());
  }

  /** This plan's inputs with {@code other} reversible layers. */
  public PlanInputs withReversible(ReversibleConfig other) {
    return new PlanInputs(
        model, adapter, batchSize, seqLen, accumulation, recomputeActivations, baseDtype, other);
  }

  /** The layers that hold an adapter. */
  public int adaptedLayers() {
    return adapter.layers().resolve(model.nLayers()).size();
  }

  public PlanInputs withAdapter(AdapterConfig other) {
    return new PlanInputs(
        model, other, batchSize, seqLen, accumulation, recomputeActivations, baseDtype, reversible);
  }

  public PlanInputs withSeqLen(int t) {
    return new PlanInputs(
        model, adapter, batchSize, t, accumulation, recomputeActivations, baseDtype, reversible);
  }
}
