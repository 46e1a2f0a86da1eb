package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * Root-mean-square layer norm: {@code y = w * (x / sqrt(mean(x^2) + eps))} over the last axis. The
 * statistics and the product are computed in float32 whatever x's type; y has x's type.
 */
public final class RmsNorm extends AbstractBlock {
  final Parameter weight; // [D]
  private final float eps;

  public RmsNorm(float eps) {
    this.eps = eps;
    this.weight =
        addParameter(Parameter.builder().setName("weight").setType(Parameter.Type.GAMMA).build());
  }

  /** x [..., D], w [D] -> [..., D], in x's type. */
  public static NDArray rmsNorm(NDArray x, NDArray w, float eps) {
    NDArray x32 = Precision.atLeastFloat32(x);
    NDArray rms = x32.square().mean(new int[] {-1}, true).add(Scalar.of(x32, eps)).sqrt();
    // A half w promotes the float32 product to float32.
    return Precision.cast(x32.div(rms).mul(w), x.getDataType());
  }

  /**
   * As {@link #rmsNorm(NDArray, NDArray, float)}, the same operations in the same order, in
   * inference: {@code eps} a 0-d float32 array made once, and the sum and the product with w
   * written in place (four arrays instead of eight).
   */
  public static NDArray rmsNorm(NDArray x, NDArray w, NDArray eps) {
    NDArray x32 = Precision.atLeastFloat32(x);
    NDArray rms = x32.square().mean(new int[] {-1}, true);
    NDArray normed = x32.div(rms.addi(eps).sqrt());
    return Precision.cast(normed.muli(w), x.getDataType());
  }

  float eps() {
    return eps;
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
    NDArray x = inputs.singletonOrThrow();
    return new NDList(rmsNorm(x, ps.getValue(weight, x.getDevice(), training), eps));
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return inputShapes;
  }
}
