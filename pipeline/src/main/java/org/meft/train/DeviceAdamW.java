package org.meft.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.nn.Parameter;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdamW for the parameters that live on the device, with PyTorch's formula (the host store's sparse
 * AdamW uses the same one, per row):
 *
 * <pre>
 *   p -= lr * wd * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * </pre>
 *
 * The moments live in the optimizer's own manager, freed by {@link #close()}.
 */
final class DeviceAdamW implements AutoCloseable {
  static final String EXP_AVG = ".exp_avg";
  static final String EXP_AVG_SQ = ".exp_avg_sq";
  private final NDManager manager;
  private final Map<Parameter, NDArray[]> moments = new HashMap<>();
  private int step;

  DeviceAdamW(NDManager parent) {
    this.manager = parent.newSubManager();
  }

  void step(List<Parameter> parameters, float lr, TrainConfig c) {
    step++;
    float correction1 = 1 - (float) Math.pow(c.beta1(), step);
    float correction2 = 1 - (float) Math.pow(c.beta2(), step);
    for (Parameter parameter : parameters) {
      NDArray weight = parameter.getArray();
      NDArray[] mv =
          moments.computeIfAbsent(
              parameter,
              p ->
                  new NDArray[] {
                    manager.zeros(weight.getShape(), weight.getDataType()),
                    manager.zeros(weight.getShape(), weight.getDataType())
                  });
      try (NDScope scope = new NDScope()) {
        scope.suppressNotUsedWarning();
        NDArray g = weight.getGradient();
        mv[0].muli(c.beta1()).addi(g.mul(1 - c.beta1()));
        mv[1].muli(c.beta2()).addi(g.square().mul(1 - c.beta2()));
        NDArray data = weight.stopGradient(); // the same storage, outside autograd
        if (c.weightDecay() > 0) {
          data.subi(data.mul(lr * c.weightDecay()));
        }
        data.subi(mv[0].div(correction1).div(mv[1].div(correction2).sqrt().add(c.eps())).mul(lr));
      }
    }
  }

  /** The step count t of the last update. */
  int stepCount() {
    return step;
  }

  /**
   * The moments of every parameter updated so far, named {@code NAME.exp_avg} (m) and {@code
   * NAME.exp_avg_sq} (v) after {@code names}; the arrays are the optimizer's own (do not close).
   */
  Map<String, NDArray> state(Map<String, Parameter> names) {
    Map<String, NDArray> state = new LinkedHashMap<>();
    names.forEach(
        (name, parameter) -> {
          NDArray[] mv = moments.get(parameter);
          if (mv != null) {
            state.put(name + EXP_AVG, mv[0]);
            state.put(name + EXP_AVG_SQ, mv[1]);
          }
        });
    return state;
  }

  /**
   * Restores a {@link #state} (copied into this optimizer's manager) and the step count; a
   * parameter without moments there starts from zero moments, as it would have.
   *
   * @throws IllegalArgumentException for a tensor that names no parameter or has the wrong shape
   */
  void restore(Map<String, Parameter> names, Map<String, NDArray> state, int stepCount) {
    for (String key : state.keySet()) {
      String suffix = key.endsWith(EXP_AVG) ? EXP_AVG : EXP_AVG_SQ;
      if (!key.endsWith(suffix)
          || !names.containsKey(key.substring(0, key.length() - suffix.length()))) {
        throw new IllegalArgumentException("optimizer tensor '" + key + "' names no parameter");
      }
    }
    names.forEach(
        (name, parameter) -> {
          NDArray m = state.get(name + EXP_AVG);
          NDArray v = state.get(name + EXP_AVG_SQ);
          if (m == null && v == null) {
            return;
          }
          NDArray weight = parameter.getArray();
          for (NDArray moment : new NDArray[] {m, v}) {
            if (moment == null || !moment.getShape().equals(weight.getShape())) {
              throw new IllegalArgumentException(
                  "optimizer moments of '"
                      + name
                      + "' must both be present with shape "
                      + weight.getShape());
            }
          }
          moments.put(parameter, new NDArray[] {copy(m, weight), copy(v, weight)});
        });
    step = stepCount;
  }

  private NDArray copy(NDArray moment, NDArray like) {
    NDArray out = manager.zeros(like.getShape(), like.getDataType());
    out.set(new NDIndex("..."), moment);
    return out;
  }

  @Override
  public void close() {
    manager.close();
  }
}
