package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.training.ParameterStore;

/**
 * A parallel adapter beside a decoder layer's FFN: the layer computes {@code y = h + FFN(n) + A(n)}
 * with {@code n = RMSNorm(h)}, adding one such term per adapter installed.
 */
public interface FfnAdapter {
  /** n [B, T, D] (or [B, D]) -> A(n), same shape, in n's type. */
  NDArray forward(LayerPass pass, NDArray n);

  /** {@link #forward} outside a decoder layer's pass, without dropout seed or recomputation. */
  default NDArray forward(ParameterStore ps, NDArray n, boolean training) {
    return forward(LayerPass.of(ps, null, training), n);
  }
}
