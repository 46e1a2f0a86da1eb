package org.meft.model;

import ai.djl.ndarray.NDArray;

/**
 * The two blocks of a decoder layer in {@link TokenDecoder}'s one-token pass, for a {@link
 * LayerStack} that composes its layers otherwise than one after the other (the reversible layers).
 * Inputs are [B, D] and are not written over.
 */
public interface TokenBlocks {
  /** x -> x + Attn(norm(x)) of layer {@code layer}; the token's key and value go in the cache. */
  NDArray attention(int layer, NDArray x);

  /** h -> h + FFN(norm(h)) of layer {@code layer}, plus its FFN adapter's output, if any. */
  NDArray mlp(int layer, NDArray h);
}
