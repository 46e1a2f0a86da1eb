package org.meft.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import java.util.List;
import org.meft.adapter.AdapterMeters;
import org.meft.adapter.InstalledAdapters;
import org.meft.adapter.LayerPass;
import org.meft.model.DecoderLayer;
import org.meft.model.Llama;
import org.meft.model.Rope;
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
 * forward and replay them in the recomputation ({@link LayerPass}): a meft layer moves and trains
 * the rows it selected in the forward, never retrieving again. The time spent recomputing F and G
 * and rebuilding inputs in the walk down the stack (not its backward calls), less the adapters' own
 * phases, is the meters' {@value #RECOMPUTE_PHASE} phase.
 */
final class ReversibleTraining {
  /** The phase of the reversible recomputation (F and G again, inputs rebuilt; no backward). */
  static final String RECOMPUTE_PHASE = TrainResult.REVERSIBLE_RECOMPUTE;

  private ReversibleTraining() {}

  /**
   * Forward and backward of micro-batch {@code batch}, its loss's gradients scaled by 1 / {@code
   * accumulation}, the meft row gradients sent to the host store after each backward call; returns
   * the micro-batch's loss.
   */
  static float forwardBackward(
      Llama model,
      InstalledAdapters adapters,
      ReversibleStack stack,
      ParameterStore ps,
      Trainer.Batch batch,
      int accumulation) {
    if (model.embeddingsTrain()) {
      throw new IllegalArgumentException(
          "--reversible does not train the embeddings: use an adapter method, not full");
    }
    List<DecoderLayer> layers = model.layers();
    LayerPass pass = adapters.layerPass();
    AdapterMeters meters = adapters.meters();
    NDArray tokens = batch.inputs();
    Rope rope = model.rope(tokens, 0);
    pass.set(LayerPass.Kind.RECORD);
    Halves top;
    try (NDArray x0 = model.embed(ps, tokens, true)) {
      top = stack.forwardKeepingTop(ps, x0, rope, meters::endLayer);
    }
    try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
      pass.set(LayerPass.Kind.ONCE); // the layers above run once, their graph kept
      NDArray x1 = top.first().stopGradient();
      NDArray x2 = top.second().stopGradient();
      x1.setRequiresGradient(true);
      x2.setRequiresGradient(true);
      NDArray x = ReversibleStack.merge(new Halves(x1, x2));
      for (int i = stack.depth(); i < layers.size(); i++) {
        x = layers.get(i).forward(ps, x, rope, 0, null, null, true);
      }
      NDArray logits = model.head(ps, x, true);
      NDArray loss = Trainer.maskedCrossEntropy(logits, batch.targets(), batch.mask());
      collector.backward(loss.div(Scalar.of(loss, accumulation)));
      adapters.collectGradients();
      Halves dTop = new Halves(x1.getGradient(), x2.getGradient());
      pass.set(LayerPass.Kind.REPLAY);
      long adapterBefore = adapterNanos(meters);
      long scatterBefore = scatterNanos(meters);
      long recomputeBefore = stack.recomputeNanos();
      NDArray dx0 =
          stack.backward(
              collector, ps, top, dTop, rope, adapters::collectGradients, meters::endLayer);
      dx0.close();
      // The adapters' own phases inside the recomputation (a replay routes and moves rows again;
      // its scatter comes after each backward call) are theirs, so that the phases partition.
      long adapterInside =
          adapterNanos(meters) - adapterBefore - (scatterNanos(meters) - scatterBefore);
      meters.time(
          RECOMPUTE_PHASE, Math.max(0, stack.recomputeNanos() - recomputeBefore - adapterInside));
      return loss.toType(DataType.FLOAT32, false).getFloat(); // float64 in gradient checks
    } finally {
      pass.set(LayerPass.Kind.ONCE);
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
