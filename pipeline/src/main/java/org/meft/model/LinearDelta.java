package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;

/** A trainable addition to one frozen projection: {@code y = x W^T + delta(x)} (e.g. LoRA). */
public interface LinearDelta {
  /** x [..., in] -> [..., out], in x's type. */
  NDArray forward(LayerPass pass, NDArray x);

  /** {@link #forward} outside a decoder layer's pass, without dropout seed or recomputation. */
  default NDArray forward(ParameterStore ps, NDArray x, boolean training) {
    return forward(LayerPass.of(ps, null, training), x);
  }

  /**
   * The projection of x [..., in] by w [out, in] with its delta (null: none), plus {@code residual}
   * [..., out] (null: none): {@code residual + (x w^T + delta(x))}. In the one-token pass the
   * residual is the product's bias and the delta is added in place, {@code (x w^T + residual) +
   * delta(x)}: one array instead of three.
   */
  static NDArray project(
      LayerPass pass, NDArray x, NDArray w, LinearDelta delta, NDArray residual) {
    if (pass.isOneToken()) {
      NDArray y =
          residual == null ? Linear.linear(x, w).head() : Linear.linear(x, w, residual).head();
      return delta == null ? y : y.addi(delta.forward(pass, x));
    }
    NDArray y = Linear.linear(x, w).head();
    if (delta != null) {
      y = y.add(delta.forward(pass, x));
    }
    return residual == null ? y : residual.add(y);
  }
}
