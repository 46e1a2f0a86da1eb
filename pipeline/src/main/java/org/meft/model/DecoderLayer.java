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

  /** x [B, T, D] -> [B, T, D]; see {@link Attention#forward} for the cache. */
  public NDArray forward(
      ParameterStore ps, NDArray x, Rope rope, int start, KvCache cache, boolean training) {
    return forward(ps, x, rope, start, null, cache, training);
  }

  /** As above, with the attention mask of {@link Attention#forward} (null: causal). */
  public NDArray forward(
      ParameterStore ps,
      NDArray x,
      Rope rope,
      int start,
      NDArray mask,
      KvCache cache,
      boolean training) {
    return mlpBlock(ps, attentionBlock(ps, x, rope, start, mask, cache, training), training);
  }

  /**
   * The attention block with its residual, {@code h = x + Attn(norm(x))} (with any attention
   * deltas); arguments as {@link #forward}.
   */
  public NDArray attentionBlock(
      ParameterStore ps,
      NDArray x,
      Rope rope,
      int start,
      NDArray mask,
      KvCache cache,
      boolean training) {
    NDArray xNorm = attentionNorm.forward(ps, new NDList(x), training).head();
    return x.add(attention.forward(ps, xNorm, rope, start, mask, cache, index, training));
  }

  /**
   * The MLP block with its residual and FFN adapters, {@code y = h + FFN(norm(h)) [+ A(norm(h))
   * ...]}, the adapters added in the order they were installed.
   */
  public NDArray mlpBlock(ParameterStore ps, NDArray h, boolean training) {
    NDArray hNorm = ffnNorm.forward(ps, new NDList(h), training).head();
    NDArray y = h.add(feedForward.forward(ps, new NDList(hNorm), training).head());
    for (FfnAdapter adapter : ffnAdapters) {
      y = y.add(adapter.forward(ps, hNorm, training));
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
    return new NDList(forward(ps, x, Rope.forSequence(x, config), 0, null, training));
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return inputShapes;
  }
}
