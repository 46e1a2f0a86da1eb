package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.Map;

/** SwiGLU feed-forward: {@code FFN(x) = w2 (silu(w1 x) * (w3 x))}. */
public final class FeedForward extends AbstractBlock {
  final Parameter w1; // gate_proj [F, D]
  final Parameter w2; // down_proj [D, F]
  final Parameter w3; // up_proj   [F, D]
  private final ProjectionDeltas deltas = new ProjectionDeltas();

  public FeedForward() {
    w1 = addParameter(weight("w1"));
    w2 = addParameter(weight("w2"));
    w3 = addParameter(weight("w3"));
  }

  static Parameter weight(String name) {
    return Parameter.builder().setName(name).setType(Parameter.Type.WEIGHT).build();
  }

  /**
   * The kernel: silu(gate) * up, gate and up [..., F]; {@code inPlace} writes it over gate (an
   * array of the caller's own, in inference).
   */
  public static NDArray swiGlu(NDArray gate, NDArray up, boolean inPlace) {
    if (inPlace) {
      return gate.muli(Activation.sigmoid(gate)).muli(up);
    }
    // silu written out, so that no scalar tensor takes part (see Scalar).
    return gate.mul(Activation.sigmoid(gate)).mul(up);
  }

  /**
   * x [..., D] -> {@code residual + FFN(x)} (residual null: FFN(x)), each projection with its
   * delta, if any; see {@link LinearDelta#project}.
   */
  public NDArray forward(LayerPass pass, NDArray x, NDArray residual) {
    NDArray gate = deltas.project(pass, x, "gate", w1, null);
    NDArray up = deltas.project(pass, x, "up", w3, null);
    return deltas.project(pass, swiGlu(gate, up, pass.isOneToken()), "down", w2, residual);
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
    return new NDList(forward(LayerPass.of(ps, null, training), inputs.singletonOrThrow(), null));
  }

  /** The installed deltas, by projection. */
  Map<String, LinearDelta> deltas() {
    return deltas.all();
  }

  /** Installs (or, with null, removes) a delta on projection gate, up or down. */
  public void setDelta(String projection, LinearDelta delta) {
    deltas.set(projection, delta);
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return inputShapes;
  }
}
