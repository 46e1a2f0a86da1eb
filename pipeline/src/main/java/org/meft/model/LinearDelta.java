package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.training.ParameterStore;

/** A trainable addition to one frozen projection: {@code y = x W^T + delta(x)} (e.g. LoRA). */
public interface LinearDelta {
  /** x [..., in] -> [..., out]. */
  NDArray forward(ParameterStore ps, NDArray x, boolean training);
}
