package org.meft.adapter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.meft.adapter.full.FullConfig;
import org.meft.adapter.meft.KeySource;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.meft.TrainRows;
import org.meft.adapter.parallel.ParallelAdapter;
import org.meft.adapter.parallel.ParallelConfig;
import org.meft.load.RandomLlama;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.store.HostStore;
import org.meft.store.StoreDtype;
import org.meft.store.StoreMoments;
import org.meft.store.StoreRate;
import org.meft.testing.AdapterValues;
import org.meft.train.TrainConfig;
import org.meft.train.TrainResult;
import org.meft.train.Trainer;
import org.meft.train.TrainingExample;

/**
 * Activation recomputation ({@code recompute-activations}) changes memory, not arithmetic: for
 * every method of {@link AdapterMethodTableTest#cases()}, training with it computes bit for bit the
 * losses, the updated weights (base weights included), the device AdamW moments and meft's host
 * rows, moments and step counts of training without it. Three layers, padded micro-batches (meft
 * and parallel compute on the real tokens only), two micro-batches per step (gradients accumulate
 * across collectors) and LoRA dropout (its masks replayed in the recomputation).
 */
class ActivationRecomputationTest {
  private static final LlamaConfig SHAPE = LlamaConfig.of(16, 32, 3, 4, 2, 48, 16);
  private static final int STEPS = 2;
  private static final int FIXED_LENGTH = 8;

  /** The run's outcome: losses, meters, and every trained value by name. */
  private record Outcome(List<Float> losses, long devicePeak, Map<String, float[]> values) {}

  @ParameterizedTest(name = "{0}")
  @MethodSource("org.meft.adapter.AdapterMethodTableTest#cases")
  void recomputationGivesBitIdenticalTraining(String name, AdapterConfig config) {
    assertSameTraining(name, config, SHAPE);
  }

  /** Full fine-tuning of every layer with an untied head: the embeddings' backward is separate. */
  @Test
  void fullFineTuningOfEveryLayerWithUntiedHead() {
    assertSameTraining(
        "full all, untied", new FullConfig(LayerSelection.ALL), SHAPE.withTiedEmbeddings(false));
  }

  /**
   * The device-bytes meter: without recomputation every layer's adapter activations are held at
   * once, with it one layer's at a time, as {@link AdapterMeters#activationPeak} says: for the
   * parallel adapter (its bytes depend on M and N only) the meter equals that formula exactly.
   */
  @Test
  void deviceBytesMeterHoldsOneLayerAtATime() {
    AdapterConfig parallel = new ParallelConfig(16, 0.5f, LayerSelection.ALL);
    long without = train("parallel", parallel, SHAPE, false, FIXED_LENGTH).devicePeak();
    long with = train("parallel", parallel, SHAPE, true, FIXED_LENGTH).devicePeak();
    long resident = 3 * 4L * Float.BYTES * 2 * 16 * SHAPE.dim();
    int layers = SHAPE.nLayers();
    long[] pass = new long[layers];
    long[] transientBytes = new long[layers];
    long m = 2 * (FIXED_LENGTH - 1); // real input tokens of a micro-batch of 2
    Arrays.fill(pass, ParallelAdapter.passBytes(m, 16, SHAPE.dim()).total());
    Arrays.fill(transientBytes, ParallelAdapter.transientBytes(m, 16));
    assertEquals(resident + AdapterMeters.activationPeak(pass, transientBytes, false), without);
    assertEquals(resident + AdapterMeters.activationPeak(pass, transientBytes, true), with);

    AdapterConfig meft =
        new MeftConfig(
            16,
            3,
            4,
            2,
            8,
            0.5f,
            KeySource.RANDOM,
            StoreRate.RUN,
            TrainRows.ALL,
            StoreDtype.F32,
            StoreMoments.F32,
            LayerSelection.ALL);
    long meftWithout = train("meft", meft, SHAPE, false, FIXED_LENGTH).devicePeak();
    long meftWith = train("meft", meft, SHAPE, true, FIXED_LENGTH).devicePeak();
    long meftResident = 3 * 2L * Float.BYTES * 4 * SHAPE.dim();
    AdapterCost oneLayer = meft.method().cost(meft, SHAPE, List.of(0), m); // its largest groups
    long meftMax = oneLayer.passPerLayer().total() + oneLayer.transientBytes();
    assertTrue(meftWith < meftWithout, meftWith + " with, " + meftWithout + " without");
    assertTrue(meftWith <= meftResident + meftMax, meftWith + " above one layer's bound");
    System.out.printf(
        "device_adapter_bytes_peak (3 layers, D %d, N 16, M <= %d): parallel %d without"
            + " recomputation, %d with; meft %d without, %d with%n",
        SHAPE.dim(), m, without, with, meftWithout, meftWith);
  }

  // --------------------------------------------------------------------------------- helpers

  private static void assertSameTraining(String name, AdapterConfig config, LlamaConfig shape) {
    Outcome plain = train(name, config, shape, false, 0);
    Outcome recomputed = train(name, config, shape, true, 0);
    assertEquals(STEPS, plain.losses().size());
    for (int step = 0; step < STEPS; step++) {
      assertEquals(
          Float.floatToRawIntBits(plain.losses().get(step)),
          Float.floatToRawIntBits(recomputed.losses().get(step)),
          name + ": loss at step " + step);
    }
    assertEquals(plain.values().keySet(), recomputed.values().keySet());
    for (Map.Entry<String, float[]> e : plain.values().entrySet()) {
      assertArrayEquals(
          bits(e.getValue()),
          bits(recomputed.values().get(e.getKey())),
          name + ": " + e.getKey() + " not bit-identical");
    }
  }

  /** Trains {@code STEPS} steps on {@link #examples} of {@code length} tokens (0: 4 to 9). */
  private static Outcome train(
      String name, AdapterConfig config, LlamaConfig shape, boolean recompute, int length) {
    TrainConfig train =
        TrainConfig.defaults(STEPS, 2, 1e-2f)
            .withSchedule(0, 0.1f, 0f)
            .withSeed(7)
            .withRecomputeActivations(recompute);
    train = withAccumulation(train, 2);
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model =
          RandomLlama.create(shape, AdapterMethodTableTest.MODEL_SEED, manager, DataType.FLOAT32);
      try (InstalledAdapters adapters =
          InstalledAdapters.install(
              model, config, manager, allocator, AdapterMethodTableTest.ADAPTER_SEED)) {
        AdapterValues.nonZero(adapters, 0.1f);
        Map<String, float[]> values = new TreeMap<>();
        TrainResult result =
            new Trainer(model, adapters, train, null)
                .train(
                    examples(length),
                    manager,
                    null,
                    (snapshot, soFar) ->
                        snapshot
                            .optimizer()
                            .forEach(
                                (key, array) ->
                                    values.put(
                                        "moment " + key + " after " + snapshot.state().step(),
                                        array.toFloatArray())));
        for (Map.Entry<String, Parameter> e : adapters.namedDeviceParameters().entrySet()) {
          values.put("device " + e.getKey(), e.getValue().getArray().toFloatArray());
        }
        for (Llama.Weight w : model.weights()) {
          NDArray array = w.parameter().getArray();
          values.put("base " + w.name(), array.toFloatArray());
        }
        storeValues(adapters.store(), values);
        return new Outcome(result.losses(), result.deviceAdapterBytesPeak(), values);
      }
    }
  }

  private static void storeValues(HostStore store, Map<String, float[]> values) {
    if (store == null) {
      return;
    }
    for (int layer = 0; layer < store.layers(); layer++) {
      for (int row = 0; row < store.rows(); row++) {
        String p = "store " + layer + "." + row + " ";
        values.put(p + "key", store.keyRow(layer, row));
        values.put(p + "value", store.valueRow(layer, row));
        values.put(p + "key_m", store.keyMomentRow(layer, row, 1));
        values.put(p + "key_v", store.keyMomentRow(layer, row, 2));
        values.put(p + "value_m", store.valueMomentRow(layer, row, 1));
        values.put(p + "value_v", store.valueMomentRow(layer, row, 2));
        values.put(p + "step", new float[] {store.stepCount(layer, row)});
      }
    }
  }

  private static TrainConfig withAccumulation(TrainConfig c, int accumulation) {
    return new TrainConfig(
        c.steps(),
        c.batchSize(),
        accumulation,
        c.learningRate(),
        c.warmupSteps(),
        c.minLearningRateRatio(),
        c.weightDecay(),
        c.beta1(),
        c.beta2(),
        c.eps(),
        c.clipNorm(),
        c.maxLength(),
        c.seed(),
        c.logEvery(),
        c.maxBadSteps(),
        c.recomputeActivations(),
        c.reversible());
  }

  /**
   * Six examples of {@code fixed} tokens, or (0) of 4 to 9 tokens so that micro-batches of 2 need
   * padding; loss on their second half.
   */
  private static List<TrainingExample> examples(int fixed) {
    Random random = new Random(4);
    List<TrainingExample> examples = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      int length = fixed > 0 ? fixed : 4 + random.nextInt(6);
      long[] tokens = new long[length];
      boolean[] mask = new boolean[length];
      tokens[0] = 1;
      for (int t = 1; t < length; t++) {
        tokens[t] = 3 + random.nextInt(44);
        mask[t] = t >= length / 2;
      }
      examples.add(new TrainingExample(tokens, mask));
    }
    return examples;
  }

  private static int[] bits(float[] values) {
    int[] bits = new int[values.length];
    for (int i = 0; i < values.length; i++) {
      bits[i] = Float.floatToRawIntBits(values[i]);
    }
    return bits;
  }
}
