package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

/**
 * The constants of the one-token inference pass, made once per decoder instead of once per use
 * (each array the engine makes costs 5 to 10 us on the CPU whatever its size).
 *
 * @param eps 0-d float32, the norms' epsilon (their statistics are float32)
 * @param minusHalf 0-d float32, the norms' power (see {@link RmsNorm})
 * @param sqrtHeadDim 0-d, in the weights' type as the scores are
 */
public record OneToken(NDArray eps, NDArray minusHalf, NDArray sqrtHeadDim) {
  /** The constants of {@code config} with weights of {@code type}, in {@code manager}. */
  public static OneToken create(NDManager manager, LlamaConfig config, DataType type) {
    return new OneToken(
        manager.create(config.normEps()),
        manager.create(-0.5f),
        manager.create((float) Math.sqrt(config.headDim())).toType(type, false));
  }
}
