package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/** Root-mean-square layer norm: {@code y = w * (x / sqrt(mean(x^2) + eps))} over the last axis. */
public final class RmsNorm extends AbstractBlock {
  final Parameter weight; // [D]
  private final float eps;

  public RmsNorm(float eps) {
    this.eps = eps;
    this.weight =
        addParameter(Parameter.builder().setName("weight").setType(Parameter.Type.GAMMA).build());
  }

  /** x [..., D], w [D] -> [..., D]. */
  public static NDArray rmsNorm(NDArray x, NDArray w, float eps) {
    NDArray rms = x.square().mean(new int[] {-1}, true).add(Scalar.of(x, eps)).sqrt();
    return x.div(rms).mul(w);
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
