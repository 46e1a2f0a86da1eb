package org.meft.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import org.meft.adapter.AdapterMeters;
import org.meft.adapter.InstalledAdapters;
import org.meft.model.LayerPass;
import org.meft.model.Llama;
import org.meft.model.Scalar;
import org.meft.reversible.Halves;
import org.meft.reversible.ReversibleStack;

/**
 * One micro-batch's forward and backward with the lowest layers reversible ({@link
 * ReversibleStack}), as the authors' {@code RevBackProp}:
 *
 * <pre>
 *   forward, no gradient:   x_0 = embed(tokens); [y1, y2] = stack(x_0), keeping only the top halves
 *   the rest, with gradient: h = (y1 + y2) / 2 on detached copies; the layers above the stack and
 *                            the head as usual; backward of loss / accumulation -> dy1, dy2
 *   down the stack:          each layer's input rebuilt from its output, F and G recomputed with
 *                            gradient and backpropagated (vector-Jacobian products)
 * </pre>
 *
 * One gradient collector covers the whole micro-batch (DJL's PyTorch engine allows one at a time),
 * as in {@link ActivationRecomputation}. The adapters inside F and G record their choices in the
 * forward and replay them in the recomputation ({@link LayerPass.Kind}): a meft layer moves and
 * trains the rows it selected in the forward, never retrieving again. The time spent recomputing F
 * and G and rebuilding inputs in the walk down the stack (not its backward calls), less the
 * adapters' own phases, is the meters' {@value #RECOMPUTE_PHASE} phase.
 */
record ReversibleTraining(Llama model, InstalledAdapters adapters, ReversibleStack stack)
    implements TrainingStrategy {
  /** The phase of the reversible recomputation (F and G again, inputs rebuilt; no backward). */
  static final String RECOMPUTE_PHASE = TrainResult.REVERSIBLE_RECOMPUTE;

  /**
   * {@link #forwardBackward(LayerPass, Trainer.Batch, int)} of {@code batch} through {@code stack},
   * in a training pass without dropout seed.
   */
  static float forwardBackward(
      Llama model,
      InstalledAdapters adapters,
      ReversibleStack stack,
      ParameterStore ps,
      Trainer.Batch batch,
      int accumulation) {
    LayerPass pass = LayerPass.of(ps, model.rope(batch.inputs(), 0), true);
    return new ReversibleTraining(model, adapters, stack)
        .forwardBackward(pass, batch, accumulation);
  }

  @Override
  public float forwardBackward(LayerPass pass, Trainer.Batch batch, int accumulation) {
    if (model.embeddingsTrain()) {
      throw new IllegalArgumentException(
          "--reversible does not train the embeddings: use an adapter method, not full");
    }
    AdapterMeters meters = adapters.meters();
    Halves top;
    try (NDArray x0 = model.embed(pass.ps(), batch.inputs(), true)) {
      top = stack.forwardKeepingTop(pass.as(LayerPass.Kind.RECORD), x0, meters::endLayer);
    }
    try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
      NDArray x1 = top.first().stopGradient();
      NDArray x2 = top.second().stopGradient();
      x1.setRequiresGradient(true);
      x2.setRequiresGradient(true);
      // The layers above run once, their graph kept.
      NDArray x = model.layers(pass, ReversibleStack.merge(new Halves(x1, x2)), stack.depth());
      NDArray logits = model.head(pass, x);
      NDArray loss = Trainer.maskedCrossEntropy(logits, batch.targets(), batch.mask());
      collector.backward(loss.div(Scalar.of(loss, accumulation)));
      adapters.collectGradients();
      Halves dTop = new Halves(x1.getGradient(), x2.getGradient());
      long adapterBefore = adapterNanos(meters);
      long scatterBefore = scatterNanos(meters);
      long recomputeBefore = stack.recomputeNanos();
      NDArray dx0 =
          stack.backward(
              collector,
              pass.as(LayerPass.Kind.REPLAY),
              top,
              dTop,
              adapters::collectGradients,
              meters::endLayer);
      dx0.close();
      // The adapters' own phases inside the recomputation (a replay routes and moves rows again;
      // its scatter comes after each backward call) are theirs, so that the phases partition.
      long adapterInside =
          adapterNanos(meters) - adapterBefore - (scatterNanos(meters) - scatterBefore);
      meters.time(
          RECOMPUTE_PHASE, Math.max(0, stack.recomputeNanos() - recomputeBefore - adapterInside));
      return loss.toType(DataType.FLOAT32, false).getFloat(); // float64 in gradient checks
    }
  }

  private static long scatterNanos(AdapterMeters meters) {
    return meters.phaseNanos().getOrDefault(AdapterMeters.SCATTER, 0L);
  }

  private static long adapterNanos(AdapterMeters meters) {
    return meters.phaseNanos().entrySet().stream()
        .filter(e -> !e.getKey().equals(RECOMPUTE_PHASE))
        .mapToLong(e -> e.getValue())
        .sum();
  }
}
