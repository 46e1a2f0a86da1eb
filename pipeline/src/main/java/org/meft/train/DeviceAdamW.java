package org.meft.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.nn.Parameter;
import java.util.HashMap;
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

  @Override
  public void close() {
    manager.close();
  }
}
