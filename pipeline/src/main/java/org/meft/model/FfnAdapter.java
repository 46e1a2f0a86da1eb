package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.training.ParameterStore;

/**
 * A parallel adapter beside a decoder layer's FFN: the layer computes {@code y = h + FFN(n) + A(n)}
 * with {@code n = RMSNorm(h)}, adding one such term per adapter installed.
 */
public interface FfnAdapter {
  /** n [B, T, D] -> A(n) [B, T, D]. */
  NDArray forward(ParameterStore ps, NDArray n, boolean training);
}
