package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;

/**
 * The inference pass of one new token per sequence, written for few engine calls: the hidden state
 * is [B, D], norms, rotations, gating and residual sums write over arrays the pass made itself
 * (residuals as the biases of the output and down projections), its constants are made once, and
 * attention reads the cache's whole buffers under a mask instead of views of their filled columns.
 * The arithmetic is {@link Llama#forwardLast}'s (the same operations in the same order, the
 * residual sums fused into the products); training never comes here. About 25 arrays per layer
 * instead of 45.
 *
 * <p>Serves models without deltas on their projections (LoRA); an FFN adapter (meft, parallel) is
 * fine. {@link #supports} says which.
 */
public final class TokenDecoder implements AutoCloseable {
  private final Llama llama;
  private final NDManager manager;
  private final NDArray eps; // 0-d float32: the norms' statistics are float32
  private final NDArray sqrtHeadDim; // 0-d, in the weights' type, as the scores are

  /** Constants for {@code llama} in a sub-manager of {@code parent}, freed by {@link #close}. */
  public TokenDecoder(Llama llama, NDManager parent) {
    this.llama = llama;
    this.manager = parent.newSubManager();
    LlamaConfig config = llama.config();
    eps = manager.create(config.normEps());
    sqrtHeadDim =
        manager.create((float) Math.sqrt(config.headDim())).toType(llama.dataType(), false);
  }

  /**
   * True when no layer of {@code llama} has a delta installed on a projection and no reversible
   * stack replaces its lowest layers (both decode through {@link Llama#forwardLast}).
   */
  public static boolean supports(Llama llama) {
    return llama.lowerStack() == null
        && llama.layers().stream().allMatch(DecoderLayer::withoutDeltas);
  }

  /**
   * tokens [B] int64, each sequence's next token, at cache column {@code cache.length()} -> the
   * logits [B, V] float32; advances the cache by one column. {@code rope}: the rows [B, 1, 1, Dh]
   * of each sequence's position ({@link Rope#gather} of positions [B, 1]); {@code mask}: [B, 1, 1,
   * capacity] float32, 0 on the columns each sequence sees (this column included), -inf elsewhere.
   */
  public NDArray logits(ParameterStore ps, NDArray tokens, Rope rope, NDArray mask, KvCache cache) {
    NDArray embeddings = ps.getValue(llama.tokEmbeddings, tokens.getDevice(), false);
    NDArray x = Embedding.embedding(tokens, embeddings, SparseFormat.DENSE).head(); // [B, D]
    for (DecoderLayer layer : llama.layers()) {
      x = layer.decodeNext(ps, x, rope, mask, eps, sqrtHeadDim, cache);
    }
    cache.advance(1);
    NDArray normed = RmsNorm.rmsNorm(x, llama.norm.weight(ps, x), eps);
    NDArray head = ps.getValue(llama.headWeight(), x.getDevice(), false);
    return Precision.atLeastFloat32(Linear.linear(normed, head).head());
  }

  @Override
  public void close() {
    manager.close();
  }
}
