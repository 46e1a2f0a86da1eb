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
   * As {@link #rmsNorm(NDArray, NDArray, float)}, in inference and in three arrays instead of
   * eight: x times the reciprocal root ({@code mean + eps} raised in place to {@code minusHalf}),
   * as llama2.c computes it, so within a rounding of the division; {@code eps} and {@code
   * minusHalf} (-0.5) are 0-d float32 arrays made once.
   */
  public static NDArray rmsNorm(NDArray x, NDArray w, NDArray eps, NDArray minusHalf) {
    NDArray x32 = Precision.atLeastFloat32(x);
    NDArray inverseRms = x32.square().mean(new int[] {-1}, true).addi(eps).powi(minusHalf);
    return Precision.cast(x32.mul(inverseRms).muli(w), x.getDataType());
  }

  /**
   * x [..., D] -> [..., D] in x's type; in the one-token pass by the in-place form with its
   * constants.
   */
  public NDArray forward(LayerPass pass, NDArray x) {
    NDArray w = pass.value(weight, x);
    OneToken token = pass.oneToken();
    return token == null ? rmsNorm(x, w, eps) : rmsNorm(x, w, token.eps(), token.minusHalf());
  }

  float eps() {
    return eps;
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
    return new NDList(forward(LayerPass.of(ps, null, training), inputs.singletonOrThrow()));
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return inputShapes;
  }
}
