package org.meft.train;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.nn.Parameter;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.meft.adapter.AdapterMeters;

/**
 * AdamW for the parameters that live on the device, with PyTorch's formula (the host store's sparse
 * AdamW uses the same one, per row):
 *
 * <pre>
 *   p -= lr * wd * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * </pre>
 *
 * The moments live in the optimizer's own managers, freed by {@link #close()}: on the parameter's
 * device, or in host memory for the parameters named at construction (MEFT's routers: the method
 * keeps its optimizer state on the host). For those, each step brings the gradient to the host and
 * sends the Adam term back, the same arithmetic on the host's float tensors; device memory then
 * holds only the parameter and its gradient.
 */
public final class DeviceAdamW implements AutoCloseable {
  static final String EXP_AVG = ".exp_avg";
  static final String EXP_AVG_SQ = ".exp_avg_sq";
  private final NDManager manager;
  private final NDManager hostManager;
  private final Set<Parameter> hostMoments;
  private final AdapterMeters meters;
  private final Map<Parameter, NDArray[]> moments = new HashMap<>();
  private int step;

  /**
   * @param hostMoments the parameters whose moments live in host memory
   * @param meters counts the bytes those parameters' updates move across the bus
   */
  DeviceAdamW(NDManager parent, Set<Parameter> hostMoments, AdapterMeters meters) {
    this.manager = parent.newSubManager();
    this.hostManager = parent.newSubManager(Device.cpu());
    this.hostMoments = Set.copyOf(hostMoments);
    this.meters = meters;
  }

  void step(List<Parameter> parameters, float lr, TrainConfig c) {
    step++;
    float correction1 = 1 - (float) Math.pow(c.beta1(), step);
    float correction2 = 1 - (float) Math.pow(c.beta2(), step);
    for (Parameter parameter : parameters) {
      NDArray weight = parameter.getArray();
      boolean onHost = hostMoments.contains(parameter);
      NDArray[] mv = moments.computeIfAbsent(parameter, p -> zeroMoments(p, weight));
      try (NDScope scope = new NDScope()) {
        scope.suppressNotUsedWarning();
        NDArray g = weight.getGradient();
        if (onHost) {
          g = g.toDevice(Device.cpu(), false);
          meters.deviceToHost(hostUpdateBusBytes(g.size()));
        }
        mv[0].muli(c.beta1()).addi(g.mul(1 - c.beta1()));
        mv[1].muli(c.beta2()).addi(g.square().mul(1 - c.beta2()));
        NDArray data = weight.stopGradient(); // the same storage, outside autograd
        if (c.weightDecay() > 0) {
          data.subi(data.mul(lr * c.weightDecay()));
        }
        NDArray adam =
            mv[0].div(correction1).div(mv[1].div(correction2).sqrt().add(c.eps())).mul(lr);
        if (onHost) {
          adam = adam.toDevice(weight.getDevice(), false);
          meters.hostToDevice(hostUpdateBusBytes(adam.size()));
          meters.transientBytes(hostUpdateBusBytes(adam.size()));
        }
        data.subi(adam);
      }
    }
  }

  /**
   * Bytes one update of a parameter of {@code elements} whose moments live on the host moves each
   * way: its float32 gradient to the host, the Adam term back (also briefly on the device).
   */
  public static long hostUpdateBusBytes(long elements) {
    return elements * Float.BYTES;
  }

  /** Host bytes of the two float32 AdamW moments of such a parameter. */
  public static long hostMomentBytes(long elements) {
    return 2 * elements * Float.BYTES;
  }

  private NDArray[] zeroMoments(Parameter parameter, NDArray like) {
    NDManager owner = hostMoments.contains(parameter) ? hostManager : manager;
    return new NDArray[] {
      owner.zeros(like.getShape(), like.getDataType()),
      owner.zeros(like.getShape(), like.getDataType())
    };
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
          NDArray[] mv = zeroMoments(parameter, weight);
          mv[0].set(new NDIndex("..."), m.toDevice(mv[0].getDevice(), false));
          mv[1].set(new NDIndex("..."), v.toDevice(mv[1].getDevice(), false));
          moments.put(parameter, mv);
        });
    step = stepCount;
  }

  @Override
  public void close() {
    hostManager.close();
    manager.close();
  }
}
