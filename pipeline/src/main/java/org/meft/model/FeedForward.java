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
import java.util.HashMap;
import java.util.Map;

/** SwiGLU feed-forward: {@code FFN(x) = w2 (silu(w1 x) * (w3 x))}. */
public final class FeedForward extends AbstractBlock {
  final Parameter w1; // gate_proj [F, D]
  final Parameter w2; // down_proj [D, F]
  final Parameter w3; // up_proj   [F, D]
  private final Map<String, LinearDelta> deltas = new HashMap<>(); // by projection: gate, up, down

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
    NDArray gate = silu(Linear.linear(x, w1).head()); // [B, T, F]
    NDArray up = Linear.linear(x, w3).head(); // [B, T, F]
    return Linear.linear(gate.mul(up), w2).head();
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
    NDArray x = inputs.singletonOrThrow();
    if (deltas.isEmpty()) {
      return new NDList(
          swiGlu(
              x,
              value(ps, w1, x, training),
              value(ps, w2, x, training),
              value(ps, w3, x, training)));
    }
    NDArray gate = silu(project(ps, x, "gate", w1, training));
    NDArray up = project(ps, x, "up", w3, training);
    return new NDList(project(ps, gate.mul(up), "down", w2, training));
  }

  /** The installed deltas, by projection. */
  Map<String, LinearDelta> deltas() {
    return Map.copyOf(deltas);
  }

  /** silu(x) = x * sigmoid(x), written out so that no scalar tensor takes part (see Scalar). */
  static NDArray silu(NDArray x) {
    return x.mul(Activation.sigmoid(x));
  }

  private NDArray project(
      ParameterStore ps, NDArray x, String projection, Parameter w, boolean training) {
    NDArray y = Linear.linear(x, value(ps, w, x, training)).head();
    LinearDelta delta = deltas.get(projection);
    return delta == null ? y : y.add(delta.forward(ps, x, training));
  }

  private static NDArray value(ParameterStore ps, Parameter p, NDArray x, boolean training) {
    return ps.getValue(p, x.getDevice(), training);
  }

  /** Installs (or, with null, removes) a delta on projection gate, up or down. */
  public void setDelta(String projection, LinearDelta delta) {
    if (delta == null) {
      deltas.remove(projection);
    } else {
      deltas.put(projection, delta);
    }
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return inputShapes;
  }
}
