package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.training.ParameterStore;

/**
 * Something that runs in place of the lowest {@link #depth} decoder layers of a {@link Llama} (the
 * reversible stack of {@code org.meft.reversible}): the embedding's output in, the stream the layer
 * above takes out.
 */
public interface LayerStack {
  /** How many of the lowest decoder layers this replaces. */
  int depth();

  /**
   * x [B, T, D] -> the input of layer {@link #depth}, [B, T, D]; arguments as {@link
   * DecoderLayer#forward(ParameterStore, NDArray, Rope, int, NDArray, KvCache, boolean)}.
   */
  NDArray forward(
      ParameterStore ps,
      NDArray x,
      Rope rope,
      int start,
      NDArray mask,
      KvCache cache,
      boolean training);

  /**
   * The one-token inference pass through this stack: x [B, D] -> the input of layer {@link #depth},
   * [B, D], its layers' blocks computed by {@code blocks} ({@link TokenDecoder}).
   */
  NDArray decodeToken(ParameterStore ps, NDArray x, TokenBlocks blocks);
}
