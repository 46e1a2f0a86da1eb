package org.meft.adapter.meft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.meft.adapter.InstalledAdapters;
import org.meft.load.RandomLlama;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.store.HostStore;
import org.meft.testing.AdapterValues;
import org.meft.train.RunSpec;
import org.meft.train.TrainResult;
import org.meft.train.Trainer;
import org.meft.train.TrainingExample;

/**
 * {@code train-rows all} trains every token with all of its top-K rows: on micro-batches whose
 * tokens choose far more distinct rows than max-rows (so that they go to the device in several
 * groups, some rows in more than one), one optimizer step gives the losses, the routers' gradients
 * and every store row's gradient and step count of the same step with max-rows = N (one group, no
 * cap), to 1e-6; the gradients are read from the first AdamW moments, (1 - beta1) g after one step.
 * {@code train-rows capped} drops choices there, and its gradients differ.
 */
class TrainRowsTest {
  private static final LlamaConfig SHAPE = LlamaConfig.of(32, 64, 2, 4, 2, 64, 32);
  private static final int N = 64;
  private static final int MAX_ROWS = 8;
  private static final double TOLERANCE = 1e-6;

  /** One step's outcome: losses, meters, and every gradient by name (a first moment). */
  private record Outcome(TrainResult result, Map<String, float[]> gradients) {}

  @ParameterizedTest(name = "recompute-activations {0}")
  @ValueSource(booleans = {false, true})
  void everyTokenTrainsWithAllOfItsRows(boolean recompute) {
    Outcome uncapped = train(N, "all", false);
    Outcome grouped = train(MAX_ROWS, "all", recompute);
    Outcome capped = train(MAX_ROWS, "capped", recompute);

    assertEquals(1.0, uncapped.result().retrieval().keptChoiceFraction());
    assertEquals(1.0, grouped.result().retrieval().keptChoiceFraction());
    assertTrue(
        grouped.result().retrieval().meanDistinctRowsPerLayer() > 3 * MAX_ROWS,
        "the tokens must choose several groups' worth of rows");
    assertTrue(
        grouped.result().meanRowsPerLayer() > MAX_ROWS, "several groups of at most max-rows rows");
    assertTrue(capped.result().retrieval().keptChoiceFraction() < 1);

    assertClose(uncapped.result().losses(), grouped.result().losses(), "losses");
    assertEquals(uncapped.gradients().keySet(), grouped.gradients().keySet());
    assertTrue(
        uncapped.gradients().keySet().stream().anyMatch(name -> name.contains("router")),
        "the routers' moments: " + uncapped.gradients().keySet());
    int touched = 0;
    double largestDifference = 0;
    for (Map.Entry<String, float[]> e : uncapped.gradients().entrySet()) {
      float[] expected = e.getValue();
      float[] actual = grouped.gradients().get(e.getKey());
      for (int i = 0; i < expected.length; i++) {
        assertEquals(expected[i], actual[i], TOLERANCE, e.getKey() + "[" + i + "]");
        largestDifference = Math.max(largestDifference, Math.abs(expected[i] - actual[i]));
      }
      touched += e.getKey().endsWith("steps") && expected[0] == 1 ? 1 : 0;
    }
    assertTrue(touched > 3 * MAX_ROWS, touched + " rows updated");
    System.out.printf(
        "train-rows all (recompute %b): %.1f distinct rows per layer, %.1f moved in groups of at"
            + " most %d, %d rows updated, largest gradient difference %.2e; capped keeps %.1f%%%n",
        recompute,
        grouped.result().retrieval().meanDistinctRowsPerLayer(),
        grouped.result().meanRowsPerLayer(),
        MAX_ROWS,
        touched,
        largestDifference,
        100 * capped.result().retrieval().keptChoiceFraction());
    assertNotEquals(
        uncapped.result().losses().get(0),
        capped.result().losses().get(0),
        "capping drops choices, and with them a part of the adapter's output");
    assertTrue(
        differs(uncapped.gradients(), capped.gradients()), "capped gradients equal the uncapped");
  }

  private static Outcome train(int maxRows, String trainRows, boolean recompute) {
    RunSpec spec =
        spec(
            "max-rows",
            Integer.toString(maxRows),
            "train-rows",
            trainRows,
            "recompute-activations",
            Boolean.toString(recompute));
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(SHAPE, 1, manager, DataType.FLOAT32);
      try (InstalledAdapters adapters =
          InstalledAdapters.install(model, spec.adapter(), manager, allocator, 5)) {
        AdapterValues.nonZero(adapters, 0.1f);
        Map<String, float[]> gradients = new TreeMap<>();
        TrainResult result =
            new Trainer(model, adapters, spec.train(), null)
                .train(
                    examples(),
                    manager,
                    null,
                    (snapshot, soFar) ->
                        snapshot.optimizer().entrySet().stream()
                            .filter(e -> e.getKey().endsWith(".exp_avg"))
                            .forEach(e -> gradients.put(e.getKey(), e.getValue().toFloatArray())));
        storeGradients(adapters.store(), gradients);
        return new Outcome(result, gradients);
      }
    }
  }

  /** Each store row's first moments and its AdamW step count. */
  private static void storeGradients(HostStore store, Map<String, float[]> gradients) {
    for (int layer = 0; layer < store.layers(); layer++) {
      for (int row = 0; row < store.rows(); row++) {
        String name = "store " + layer + "." + row + " ";
        gradients.put(name + "key", store.keyMomentRow(layer, row, 1));
        gradients.put(name + "value", store.valueMomentRow(layer, row, 1));
        gradients.put(name + "steps", new float[] {store.stepCount(layer, row)});
      }
    }
  }

  /**
   * One step of two micro-batches of two sequences each, K = 4 of E = 8 experts' rows with P = 2,
   * no clipping (its norm would differ by rounding).
   */
  private static RunSpec spec(String... settings) {
    Map<String, String> map = new HashMap<>();
    map.putAll(
        Map.of(
            "model", "unused",
            "data", "unused",
            "method", "meft",
            "adapter-size", Integer.toString(N),
            "top-k", "4",
            "experts", "8",
            "probes", "2",
            "steps", "1",
            "batch-size", "2",
            "accumulation", "2"));
    map.putAll(Map.of("lr", "1e-2", "clip", "0", "seed", "7"));
    for (int i = 0; i < settings.length; i += 2) {
      map.put(settings[i], settings[i + 1]);
    }
    return RunSpec.fromSettings(map);
  }

  /** Four sequences of 10 to 15 tokens (micro-batches need padding), loss on their second half. */
  private static List<TrainingExample> examples() {
    Random random = new Random(4);
    List<TrainingExample> examples = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      int length = 10 + random.nextInt(6);
      long[] tokens = new long[length];
      boolean[] mask = new boolean[length];
      tokens[0] = 1;
      for (int t = 1; t < length; t++) {
        tokens[t] = 3 + random.nextInt(SHAPE.vocabSize() - 3);
        mask[t] = t >= length / 2;
      }
      examples.add(new TrainingExample(tokens, mask));
    }
    return examples;
  }

  private static void assertClose(List<Float> expected, List<Float> actual, String what) {
    assertEquals(expected.size(), actual.size(), what);
    for (int i = 0; i < expected.size(); i++) {
      assertEquals(expected.get(i), actual.get(i), TOLERANCE, what + " " + i);
    }
  }

  private static boolean differs(Map<String, float[]> a, Map<String, float[]> b) {
    for (Map.Entry<String, float[]> e : a.entrySet()) {
      float[] other = b.get(e.getKey());
      for (int i = 0; i < other.length; i++) {
        if (Math.abs(e.getValue()[i] - other[i]) > 1e-4) {
          return true;
        }
      }
    }
    return false;
  }
}
