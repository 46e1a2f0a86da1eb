package org.meft.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import java.util.ArrayList;
import java.util.List;
import org.meft.adapter.InstalledAdapters;
import org.meft.model.DecoderLayer;
import org.meft.model.LayerPass;
import org.meft.model.Llama;
import org.meft.model.Scalar;

/**
 * One micro-batch's forward and backward with activation recomputation (Hugging Face's gradient
 * checkpointing), per decoder layer:
 *
 * <pre>
 *   forward, no gradient:  x_0 = embed(tokens); x_{i+1} = layer_i(x_i), keeping only x_i
 *   head, with gradient:   loss = CE(head(x_L)); backward of loss / accumulation; dy = dL/dx_L
 *   down the layers:       recompute y = layer_i(x_i) with gradient; backward of sum(y * dy)
 *                          (the vector-Jacobian product); dy = dL/dx_i
 *   embeddings, if they train: backward of sum(embed(tokens) * dy)
 * </pre>
 *
 * Each layer's intermediates are freed when the layer is done (an {@link NDScope} per layer), so
 * the device holds the layer inputs plus one layer's activations at a time. The gradients are those
 * of one backward over the whole model, bit for bit: DJL's PyTorch collector does not zero
 * gradients when opened, so every backward adds into the parameters' gradients, and {@code sum(y *
 * dy)} passes exactly dy into the layer's graph. A tied embedding that trains gets its two parts,
 * the head's and the lookup's, in one backward at the end (the head's collected on a detached copy
 * of the weight, then passed on as {@code sum(W * dW_head)}), so that they add up in the order one
 * backward over the model adds them. The layers below the lowest one with something to train are
 * neither kept nor recomputed, as autograd would not reach them either. The adapters replay their
 * first forward's choices ({@link LayerPass.Kind}).
 */
record ActivationRecomputation(Llama model, InstalledAdapters adapters)
    implements TrainingStrategy {

  @Override
  public float forwardBackward(LayerPass pass, Trainer.Batch batch, int accumulation) {
    List<DecoderLayer> layers = model.layers();
    int lowest = lowestLayerWithGradient(model, adapters);
    NDArray tokens = batch.inputs();
    LayerPass record = pass.as(LayerPass.Kind.RECORD);
    List<NDArray> inputs = new ArrayList<>(); // x_lowest .. x_{L-1}, each [B, T, D]
    NDArray x = model.embed(pass.ps(), tokens, true); // [B, T, D]
    for (int i = 0; i < layers.size(); i++) {
      if (i >= lowest) {
        inputs.add(x);
      }
      x = forwardWithoutGradient(layers.get(i), record, x);
      adapters.meters().endLayer();
    }
    NDArray tied = null; // the tied weight W, detached: it collects the head's part of dL/dW
    try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
      x.setRequiresGradient(true);
      NDArray headWeight = pass.value(model.headWeight(), x); // [V, D]
      if (model.config().tiedEmbeddings() && model.embeddingsTrain()) {
        tied = headWeight.stopGradient();
        tied.setRequiresGradient(true);
      }
      NDArray logits = model.head(pass, x, tied == null ? headWeight : tied);
      NDArray loss = Trainer.maskedCrossEntropy(logits, batch.targets(), batch.mask());
      collector.backward(loss.div(Scalar.of(loss, accumulation)));
      NDArray dy = x.getGradient(); // [B, T, D]
      LayerPass replay = pass.as(LayerPass.Kind.REPLAY);
      for (int i = layers.size() - 1; i >= lowest; i--) {
        NDArray input = inputs.get(i - lowest);
        NDArray dx = recomputeBackward(collector, layers.get(i), replay, input, dy);
        adapters.meters().endLayer();
        dy.close();
        input.close();
        dy = dx;
      }
      if (model.embeddingsTrain()) {
        backwardEmbeddings(collector, model, pass.ps(), tokens, dy, headWeight, tied);
      }
      dy.close();
      return loss.getFloat();
    } finally {
      if (tied != null) {
        tied.close();
      }
    }
  }

  /**
   * The lowest layer a gradient must reach: 0 when the embeddings train, else the lowest layer that
   * holds an adapter (or trains, for full fine-tuning).
   */
  static int lowestLayerWithGradient(Llama model, InstalledAdapters adapters) {
    if (model.embeddingsTrain()) {
      return 0;
    }
    return adapters.layers().stream()
        .mapToInt(Integer::intValue)
        .min()
        .orElse(model.layers().size());
  }

  /** x [B, T, D] -> layer(x), outside any collector: no graph; the layer's temporaries freed. */
  private static NDArray forwardWithoutGradient(DecoderLayer layer, LayerPass pass, NDArray x) {
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      NDArray y = layer.forward(pass, x);
      NDScope.unregister(y);
      return y;
    }
  }

  /**
   * Recomputes y = layer(x) with gradient and backpropagates dy [B, T, D] through it: the layer's
   * parameters (and meft rows, sent to the host now, while K_S and V_S exist) get their gradients;
   * returns dL/dx. The layer's temporaries are freed.
   */
  private NDArray recomputeBackward(
      GradientCollector collector, DecoderLayer layer, LayerPass pass, NDArray x, NDArray dy) {
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      x.setRequiresGradient(true);
      NDArray y = layer.forward(pass, x);
      collector.backward(y.mul(dy).sum());
      adapters.collectGradients();
      NDArray dx = x.getGradient();
      NDScope.unregister(dx);
      return dx;
    }
  }

  /**
   * Backpropagates dy = dL/dx_0 [B, T, D] into the embeddings; when they are tied to the head (W =
   * {@code headWeight}, {@code tied} its detached copy holding the head's part of dL/dW), the
   * head's part goes in the same backward.
   */
  private static void backwardEmbeddings(
      GradientCollector collector,
      Llama model,
      ParameterStore ps,
      NDArray tokens,
      NDArray dy,
      NDArray headWeight,
      NDArray tied) {
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      NDArray target = model.embed(ps, tokens, true).mul(dy).sum();
      if (tied != null) {
        target = target.add(headWeight.mul(tied.getGradient()).sum());
      }
      collector.backward(target);
    }
  }
}
