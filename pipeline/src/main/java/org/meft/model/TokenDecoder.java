package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.ParameterStore;

/**
 * The inference pass of one new token per sequence: {@link Llama}'s layers in a {@link
 * LayerPass#oneToken} pass, written for few engine calls (each costs 5 to 10 us on the CPU whatever
 * its size, so at stories260K's size the calls are the cost). The hidden state is [B, D]; norms,
 * rotations, gating and residual sums write over arrays the pass made itself (residuals as the
 * biases of the output and down projections); attention reads the cache's whole buffers under a
 * mask. The arithmetic is {@link Llama#forwardLast}'s (the same kernels, the residual sums fused
 * into the products), but for the norms' reciprocal root (see {@link RmsNorm}); training never
 * comes here.
 *
 * <p>Serves every model, as the layers do: deltas on the projections (LoRA), FFN adapters (meft,
 * parallel), and a reversible lower stack.
 */
public final class TokenDecoder implements AutoCloseable {
  private final Llama llama;
  private final NDManager manager;
  private final OneToken constants;

  /**
   * A decoder of {@code llama}, its constants in a sub-manager of {@code parent}, freed by close.
   */
  public TokenDecoder(Llama llama, NDManager parent) {
    this.llama = llama;
    this.manager = parent.newSubManager();
    this.constants = OneToken.create(manager, llama.config(), llama.dataType());
  }

  /**
   * tokens [B] int64, each sequence's next token, at cache column {@code cache.length()} -> the
   * logits [B, V] float32; advances the cache by one column. {@code rope}: the rows [B, 1, 1, Dh]
   * of each sequence's position ({@link Rope#gather} of positions [B, 1]); {@code mask}: [B, 1, 1,
   * capacity] float32, 0 on the columns each sequence sees (this column included), -inf elsewhere.
   */
  public NDArray logits(ParameterStore ps, NDArray tokens, Rope rope, NDArray mask, KvCache cache) {
    return llama.forwardToken(LayerPass.oneToken(ps, rope, mask, cache, constants), tokens);
  }

  @Override
  public void close() {
    manager.close();
  }
}
