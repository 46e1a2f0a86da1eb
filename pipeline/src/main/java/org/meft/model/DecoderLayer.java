package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * One pre-norm decoder layer: {@code h = x + Attn(norm(x)); y = h + FFN(norm(h)) [+ A(norm(h))]},
 * the last term when a parallel FFN adapter is installed.
 */
public final class DecoderLayer extends AbstractBlock {
  final RmsNorm attentionNorm; // input_layernorm
  final Attention attention; // self_attn
  final RmsNorm ffnNorm; // post_attention_layernorm
  final FeedForward feedForward; // mlp
  private final LlamaConfig config;
  private final int index;
  private FfnAdapter ffnAdapter; // null: the frozen layer alone

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
   * The MLP block with its residual and FFN adapter, {@code y = h + FFN(norm(h)) [+ A(norm(h))]}.
   */
  public NDArray mlpBlock(ParameterStore ps, NDArray h, boolean training) {
    NDArray hNorm = ffnNorm.forward(ps, new NDList(h), training).head();
    NDArray y = h.add(feedForward.forward(ps, new NDList(hNorm), training).head());
    return ffnAdapter == null ? y : y.add(ffnAdapter.forward(ps, hNorm, training));
  }

  /**
   * Device bytes of one layer's input x [B, T, D] in {@code type}: what activation recomputation
   * keeps per layer across the forward, in place of the layer's activations.
   */
  public static long inputBytes(long batch, long length, int dim, DataType type) {
    return batch * length * dim * type.getNumOfBytes();
  }

  /** The adapter beside this layer's FFN; null when none is installed. */
  FfnAdapter ffnAdapter() {
    return ffnAdapter;
  }

  /** Installs (or, with null, removes) the adapter beside this layer's FFN. */
  public void setFfnAdapter(FfnAdapter adapter) {
    this.ffnAdapter = adapter;
  }

  /**
   * Installs (or, with null, removes) a delta on one of the layer's projections: q, k, v, o of the
   * attention, gate, up, down of the FFN.
   */
  public void setDelta(String projection, LinearDelta delta) {
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
