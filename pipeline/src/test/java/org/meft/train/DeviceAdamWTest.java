package org.meft.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.meft.adapter.AdapterMeters;
import org.meft.reversible.ReversibleConfig;

/**
 * The device AdamW against the formula computed independently in double precision, with its moments
 * on the device and in host memory (where MEFT keeps its routers' moments): the same updates, the
 * bus bytes counted, and a restored state continuing exactly.
 */
class DeviceAdamWTest {
  private static final int ROWS = 3;
  private static final int COLS = 5;
  private static final TrainConfig CONFIG =
      new TrainConfig(
          4,
          1,
          1,
          0.1f,
          0,
          1f,
          0.01f,
          0.9f,
          0.999f,
          1e-8f,
          0f,
          16,
          1,
          0,
          5,
          false,
          ReversibleConfig.NONE);

  /** The gradient of step s: loss = sum(w * x_s), so g = x_s, different every step. */
  private static float[] gradient(int step) {
    float[] g = new float[ROWS * COLS];
    for (int i = 0; i < g.length; i++) {
      g[i] = (float) Math.sin(1.7 * i + 0.9 * step) * (i % 3 == 0 ? 1e-3f : 1f);
    }
    return g;
  }

  private static float[] initial() {
    float[] w = new float[ROWS * COLS];
    for (int i = 0; i < w.length; i++) {
      w[i] = 0.05f * (i - 7);
    }
    return w;
  }

  private static Parameter parameter(NDManager manager) {
    Parameter p = Parameter.builder().setName("w").setType(Parameter.Type.WEIGHT).build();
    p.setArray(manager.create(initial(), new Shape(ROWS, COLS)));
    p.getArray().setRequiresGradient(true);
    return p;
  }

  private static void backward(Parameter p, int step) {
    try (GradientCollector collector = Engine.getInstance().newGradientCollector();
        NDManager sub = p.getArray().getManager().newSubManager()) {
      NDArray x = sub.create(gradient(step), new Shape(ROWS, COLS));
      collector.backward(p.getArray().mul(x).sum());
    }
  }

  /** Runs steps [from, to) of the optimizer on p. */
  private static void train(DeviceAdamW optimizer, Parameter p, int from, int to) {
    for (int step = from; step < to; step++) {
      backward(p, step);
      optimizer.step(List.of(p), CONFIG.learningRate(), CONFIG);
      p.getArray().getGradient().subi(p.getArray().getGradient());
    }
  }

  /** torch.optim.AdamW in double: p -= lr wd p; then the bias-corrected Adam step. */
  private static double[] reference(int steps) {
    float[] w0 = initial();
    double[] w = new double[w0.length];
    double[] m = new double[w.length];
    double[] v = new double[w.length];
    for (int i = 0; i < w.length; i++) {
      w[i] = w0[i];
    }
    double lr = CONFIG.learningRate();
    for (int t = 1; t <= steps; t++) {
      float[] g = gradient(t - 1);
      for (int i = 0; i < w.length; i++) {
        m[i] = CONFIG.beta1() * m[i] + (1 - CONFIG.beta1()) * g[i];
        v[i] = CONFIG.beta2() * v[i] + (1 - CONFIG.beta2()) * g[i] * g[i];
        w[i] -= lr * CONFIG.weightDecay() * w[i];
        double mHat = m[i] / (1 - Math.pow(CONFIG.beta1(), t));
        double vHat = v[i] / (1 - Math.pow(CONFIG.beta2(), t));
        w[i] -= lr * mHat / (Math.sqrt(vHat) + CONFIG.eps());
      }
    }
    return w;
  }

  private static float[] trained(boolean hostMoments, AdapterMeters meters) {
    try (NDManager manager = NDManager.newBaseManager()) {
      Parameter p = parameter(manager);
      try (DeviceAdamW optimizer =
          new DeviceAdamW(manager, hostMoments ? Set.of(p) : Set.of(), meters)) {
        train(optimizer, p, 0, CONFIG.steps());
      }
      return p.getArray().toFloatArray();
    }
  }

  @Test
  void deviceAndHostMomentsFollowTheFormula() {
    double[] expected = reference(CONFIG.steps());
    float[] onDevice = trained(false, new AdapterMeters());
    float[] onHost = trained(true, new AdapterMeters());
    assertArrayEquals(onDevice, onHost, "where the moments live must not change the update");
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], onDevice[i], 1e-5 * Math.max(1, Math.abs(expected[i])), "w" + i);
    }
  }

  @Test
  void hostMomentsMoveTheGradientAndTheUpdateAcrossTheBus() {
    AdapterMeters meters = new AdapterMeters();
    trained(true, meters);
    long perStep = (long) ROWS * COLS * Float.BYTES;
    assertEquals(CONFIG.steps() * perStep, meters.deviceToHostBytes());
    assertEquals(CONFIG.steps() * perStep, meters.hostToDeviceBytes());

    AdapterMeters deviceOnly = new AdapterMeters();
    trained(false, deviceOnly);
    assertEquals(0, deviceOnly.deviceToHostBytes() + deviceOnly.hostToDeviceBytes());
  }

  @Test
  void restoredHostMomentsContinueExactly() {
    float[] uninterrupted = trained(true, new AdapterMeters());
    try (NDManager manager = NDManager.newBaseManager()) {
      Parameter p = parameter(manager);
      Map<String, NDArray> saved;
      try (NDManager keep = manager.newSubManager()) {
        try (DeviceAdamW first = new DeviceAdamW(manager, Set.of(p), new AdapterMeters())) {
          train(first, p, 0, 2);
          Map<String, NDArray> state = first.state(Map.of("w", p));
          assertEquals(Device.cpu(), state.get("w" + DeviceAdamW.EXP_AVG).getDevice());
          saved =
              Map.of(
                  "w" + DeviceAdamW.EXP_AVG, state.get("w" + DeviceAdamW.EXP_AVG).duplicate(),
                  "w" + DeviceAdamW.EXP_AVG_SQ,
                      state.get("w" + DeviceAdamW.EXP_AVG_SQ).duplicate());
          saved.values().forEach(a -> a.attach(keep));
        }
        try (DeviceAdamW second = new DeviceAdamW(manager, Set.of(p), new AdapterMeters())) {
          second.restore(Map.of("w", p), saved, 2);
          train(second, p, 2, CONFIG.steps());
        }
      }
      assertArrayEquals(uninterrupted, p.getArray().toFloatArray());
    }
  }
}
