package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.ArrayList;
import java.util.List;

/**
 * One pre-norm decoder layer: {@code h = x + Attn(norm(x)); y = h + FFN(norm(h)) [+ A(norm(h))
 * ...]}, one term per FFN adapter installed (a composed run's two methods may each add one).
 */
public final class DecoderLayer extends AbstractBlock {
  final RmsNorm attentionNorm; // input_layernorm
  final Attention attention; // self_attn
  final RmsNorm ffnNorm; // post_attention_layernorm
  final FeedForward feedForward; // mlp
  private final LlamaConfig config;
  private final int index;
  private final List<FfnAdapter> ffnAdapters = new ArrayList<>(); // none: the frozen layer alone

  public DecoderLayer(LlamaConfig config, int index) {
    this.config = config;
    this.index = index;
    attentionNorm = addChildBlock("attention_norm", new RmsNorm(config.normEps()));
    attention = addChildBlock("attention", new Attention(config));
    ffnNorm = addChildBlock("ffn_norm", new RmsNorm(config.normEps()));
    feedForward = addChildBlock("feed_forward", new FeedForward());
  }

  /**
   * x [B, T, D] (in the one-token pass [B, D]) -> the layer's output, same shape; see {@link
   * Attention#forward} for the pass's cache and mask.
   */
  public NDArray forward(LayerPass pass, NDArray x) {
    return mlpBlock(pass, attentionBlock(pass, x));
  }

  /** The attention block with its residual, {@code h = x + Attn(norm(x))} (with its deltas). */
  public NDArray attentionBlock(LayerPass pass, NDArray x) {
    return attention.forward(pass, attentionNorm.forward(pass, x), x, index);
  }

  /**
   * The MLP block with its residual and FFN adapters, {@code y = h + FFN(norm(h)) [+ A(norm(h))
   * ...]}, the adapters added in the order they were installed.
   */
  public NDArray mlpBlock(LayerPass pass, NDArray h) {
    NDArray hNorm = ffnNorm.forward(pass, h);
    NDArray y = feedForward.forward(pass, hNorm, h);
    for (FfnAdapter adapter : ffnAdapters) {
      y = pass.accumulate(y, adapter.forward(pass, hNorm));
    }
    return y;
  }

  /**
   * Device bytes of one layer's input x [B, T, D] in {@code type}: what activation recomputation
   * keeps per layer across the forward, in place of the layer's activations.
   */
  public static long inputBytes(long batch, long length, int dim, DataType type) {
    return batch * length * dim * type.getNumOfBytes();
  }

  /** The adapters beside this layer's FFN, in the order they were installed. */
  List<FfnAdapter> ffnAdapters() {
    return List.copyOf(ffnAdapters);
  }

  /** Installs an adapter beside this layer's FFN, after any installed before. */
  public void addFfnAdapter(FfnAdapter adapter) {
    ffnAdapters.add(adapter);
  }

  /** Removes {@code adapter} (this very one) from beside this layer's FFN, if it is there. */
  public void removeFfnAdapter(FfnAdapter adapter) {
    ffnAdapters.removeIf(installed -> installed == adapter);
  }

  /**
   * Installs (or, with null, removes) a delta on one of the layer's projections: q, k, v, o of the
   * attention, gate, up, down of the FFN. A projection holds one delta at a time.
   *
   * @throws IllegalStateException if {@code projection} holds a delta already
   */
  public void setDelta(String projection, LinearDelta delta) {
    if (delta != null
        && (attention.deltas().containsKey(projection)
            || feedForward.deltas().containsKey(projection))) {
      throw new IllegalStateException(
          "projection "
              + projection
              + " of layer "
              + index
              + " holds a delta already: two adapters cannot share a projection");
    }
    switch (projection) {
      case "q", "k", "v", "o" -> attention.setDelta(projection, delta);
      case "gate", "up", "down" -> feedForward.setDelta(projection, delta);
      default -> throw new IllegalArgumentException("no projection '" + projection + "'");
    }
  }

  public Attention attention() {
    return attention;
  }

  public FeedForward feedForward() {
    return feedForward;
  }

  public int index() {
    return index;
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
    NDArray x = inputs.singletonOrThrow();
    return new NDList(forward(LayerPass.of(ps, Rope.forSequence(x, config), training), x));
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return inputShapes;
  }
}
