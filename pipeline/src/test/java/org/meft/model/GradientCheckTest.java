package org.meft.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.meft.load.RandomLlama;
import org.meft.testing.Overwrite;

/** Autograd through the whole decoder agrees with central finite differences, in float64. */
class GradientCheckTest {
  private static final LlamaConfig TINY = LlamaConfig.of(16, 24, 2, 4, 2, 32, 16);
  private static final long[] TOKENS = {1, 7, 3, 7, 20, 9};

  @Test
  void embeddingRowAttentionAndFfnWeightsMatchFiniteDifferences() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama model = RandomLlama.create(TINY, 3, manager, DataType.FLOAT64);
      scaleUp(model); // N(0, 0.02) is so small that every layer is nearly linear
      NDArray probe = manager.randomNormal(0, 1, new Shape(1, TOKENS.length, 32), DataType.FLOAT64);

      // (weight, flat index): an element of token 7's embedding row, of q_proj, of
      // gate_proj/down_proj.
      List<Object[]> checks =
          List.of(
              new Object[] {"model.embed_tokens.weight", 7 * 16 + 5},
              new Object[] {"model.layers.0.self_attn.q_proj.weight", 37},
              new Object[] {"model.layers.1.self_attn.k_proj.weight", 101},
              new Object[] {"model.layers.0.mlp.gate_proj.weight", 150},
              new Object[] {"model.layers.1.mlp.down_proj.weight", 77});
      for (Object[] check : checks) {
        String name = (String) check[0];
        int index = (Integer) check[1];
        NDArray weight = model.weight(name).parameter().getArray();

        double h = 1e-6;
        double plus = lossWithElement(model, manager, probe, weight, index, h);
        double minus = lossWithElement(model, manager, probe, weight, index, -h);
        double numeric = (plus - minus) / (2 * h);

        model.weight(name).parameter().freeze(false);
        double analytic;
        try (NDManager step = manager.newSubManager();
            GradientCollector collector = Engine.getInstance().newGradientCollector()) {
          NDArray loss = loss(model, step, probe);
          collector.backward(loss);
          analytic = weight.getGradient().toDoubleArray()[index];
        }
        model.weight(name).parameter().freeze(true);

        System.out.printf(
            "%s[%d]: autograd %.9g, finite difference %.9g, relative error %.2g%n",
            name, index, analytic, numeric, Math.abs(analytic - numeric) / Math.abs(numeric));
        assertTrue(Math.abs(numeric) > 1e-6, name + ": the check needs a non-trivial gradient");
        assertEquals(numeric, analytic, 1e-6 * Math.max(1, Math.abs(numeric)), name);
      }
    }
  }

  @Test
  void onlyTrainableParametersReceiveGradients() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama model = RandomLlama.create(TINY, 5, manager, DataType.FLOAT32);
      Llama.Weight trainable = model.weight("model.layers.1.mlp.up_proj.weight");
      trainable.parameter().freeze(false);
      NDArray probe = manager.randomNormal(new Shape(1, TOKENS.length, 32));
      try (NDManager step = manager.newSubManager();
          GradientCollector collector = Engine.getInstance().newGradientCollector()) {
        collector.backward(loss(model, step, probe));
      }
      for (Llama.Weight weight : model.weights()) {
        NDArray array = weight.parameter().getArray();
        if (weight.name().equals(trainable.name())) {
          assertTrue(array.hasGradient(), weight.name());
          assertTrue(array.getGradient().abs().sum().getFloat() > 0, weight.name());
        } else {
          assertFalse(array.hasGradient(), weight.name() + " is frozen but has a gradient");
        }
      }
    }
  }

  /** sum(logits * probe): linear in the logits, so every logit's gradient is checked at once. */
  private static NDArray loss(Llama model, NDManager manager, NDArray probe) {
    NDArray tokens = manager.create(TOKENS, new Shape(1, TOKENS.length));
    NDArray logits = model.forward(new ParameterStore(manager, false), tokens, null, true);
    return logits.mul(probe).sum();
  }

  private static double lossWithElement(
      Llama model, NDManager manager, NDArray probe, NDArray weight, int index, double delta) {
    double[] values = weight.toDoubleArray();
    double original = values[index];
    values[index] = original + delta;
    Overwrite.doubles(weight, values);
    try (NDManager step = manager.newSubManager()) {
      return loss(model, step, probe).getDouble();
    } finally {
      values[index] = original;
      Overwrite.doubles(weight, values);
    }
  }

  private static void scaleUp(Llama model) {
    Random random = new Random(11);
    for (Llama.Weight weight : model.weights()) {
      NDArray array = weight.parameter().getArray();
      double[] values = array.toDoubleArray();
      for (int i = 0; i < values.length; i++) {
        values[i] =
            weight.shape().dimension() == 1 ? 1 + 0.1 * random.nextGaussian() : values[i] * 15;
      }
      Overwrite.doubles(array, values);
    }
  }
}
