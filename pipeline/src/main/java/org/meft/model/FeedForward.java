package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/** SwiGLU feed-forward: {@code FFN(x) = w2 (silu(w1 x) * (w3 x))}. */
public final class FeedForward extends AbstractBlock {
  final Parameter w1; // gate_proj [F, D]
  final Parameter w2; // down_proj [D, F]
  final Parameter w3; // up_proj   [F, D]

  public FeedForward() {
    w1 = addParameter(weight("w1"));
    w2 = addParameter(weight("w2"));
    w3 = addParameter(weight("w3"));
  }

  static Parameter weight(String name) {
    return Parameter.builder().setName(name).setType(Parameter.Type.WEIGHT).build();
  }

  /** x [B, T, D] -> [B, T, D]. */
  public static NDArray swiGlu(NDArray x, NDArray w1, NDArray w2, NDArray w3) {
    NDArray gate = Activation.swish(Linear.linear(x, w1).head(), 1f); // [B, T, F]
    NDArray up = Linear.linear(x, w3).head(); // [B, T, F]
    return Linear.linear(gate.mul(up), w2).head();
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
    NDArray x = inputs.singletonOrThrow();
    return new NDList(
        swiGlu(
            x,
            ps.getValue(w1, x.getDevice(), training),
            ps.getValue(w2, x.getDevice(), training),
            ps.getValue(w3, x.getDevice(), training)));
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return inputShapes;
  }
}
