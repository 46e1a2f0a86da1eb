package org.meft.model;

import ai.djl.ndarray.NDArray;

/**
 * Something that runs in place of the lowest {@link #depth} decoder layers of a {@link Llama} (the
 * reversible stack of {@code org.meft.reversible}): the embedding's output in, the stream the layer
 * above takes out.
 */
public interface LayerStack {
  /** How many of the lowest decoder layers this replaces. */
  int depth();

  /**
   * x [B, T, D] (in the one-token pass [B, D]) -> the input of layer {@link #depth}, same shape; as
   * {@link DecoderLayer#forward}.
   */
  NDArray forward(LayerPass pass, NDArray x);
}
