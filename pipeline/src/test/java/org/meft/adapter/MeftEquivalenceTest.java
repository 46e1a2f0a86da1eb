package org.meft.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.meft.adapter.meft.KeySource;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.meft.TrainRows;
import org.meft.adapter.parallel.ParallelAdapter;
import org.meft.adapter.parallel.ParallelAdapters;
import org.meft.adapter.parallel.ParallelConfig;
import org.meft.load.RandomLlama;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.store.HostStore;
import org.meft.store.StoreDtype;
import org.meft.store.StoreMoments;
import org.meft.store.StoreRate;
import org.meft.testing.Overwrite;
import org.meft.train.TrainConfig;
import org.meft.train.TrainResult;
import org.meft.train.Trainer;
import org.meft.train.TrainingExample;

/**
 * With one expert, one probe and K = maxRows = N, meft is the dense parallel adapter: same logits,
 * same loss, same gradients (through AdamW's first moment), same weights after three steps.
 */
class MeftEquivalenceTest {

  private static final LlamaConfig SHAPE = LlamaConfig.of(32, 64, 2, 4, 2, 64, 32);
  private static final int N = 48;

  /** meft with one expert, one probe and K = maxRows = N: every token uses every row. */
  private static final MeftConfig DENSE =
      new MeftConfig(
          N,
          N,
          1,
          1,
          N,
          0.02f,
          KeySource.RANDOM,
          StoreRate.RUN,
          TrainRows.ALL,
          StoreDtype.F32,
          StoreMoments.F32,
          LayerSelection.ALL);

  @Test
  void denseMeftEqualsParallel() {
    TrainConfig train =
        TrainConfig.defaults(3, 2, 1e-2f).withSchedule(0, 1f, 0f); // constant lr, no clipping
    List<TrainingExample> examples = examples();
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama meftModel = RandomLlama.create(SHAPE, 1, manager, DataType.FLOAT32);
      Llama parallelModel = RandomLlama.create(SHAPE, 1, manager, DataType.FLOAT32);
      try (InstalledAdapters meft =
              InstalledAdapters.install(meftModel, DENSE, manager, allocator, 5);
          InstalledAdapters parallel =
              InstalledAdapters.install(
                  parallelModel,
                  new ParallelConfig(N, 0.02f, LayerSelection.ALL),
                  manager,
                  allocator,
                  9)) {
        HostStore store = meft.store();
        copyKeys(store, parallel);

        float[] meftLogits = logits(meftModel, manager);
        float[] parallelLogits = logits(parallelModel, manager);
        setValues(store, parallel, 3); // non-zero values so every path carries signal
        assertClose(logits(parallelModel, manager), logits(meftModel, manager), 1e-5f, "logits");
        assertClose(parallelLogits, meftLogits, 1e-5f, "logits at initialisation");

        TrainResult meftRun = new Trainer(meftModel, meft, train, null).train(examples, manager);
        TrainResult parallelRun =
            new Trainer(parallelModel, parallel, train, null).train(examples, manager);
        for (int step = 0; step < 3; step++) {
          assertEquals(
              parallelRun.losses().get(step), meftRun.losses().get(step), 1e-5f, "loss " + step);
        }
        for (int layer = 0; layer < SHAPE.nLayers(); layer++) {
          ParallelAdapter adapter = parallel.adapters(ParallelAdapters.class).adapter(layer);
          float[] keys = adapter.keys().getArray().toFloatArray();
          float[] values = adapter.values().getArray().toFloatArray();
          for (int row = 0; row < N; row++) {
            assertClose(
                slice(keys, row), store.keyRow(layer, row), 1e-5f, "keys " + layer + "/" + row);
            assertClose(
                slice(values, row),
                store.valueRow(layer, row),
                1e-5f,
                "values " + layer + "/" + row);
            assertEquals(3, store.stepCount(layer, row));
          }
        }
      }
    }
  }

  @Test
  void denseMeftGradientsEqualParallelGradients() {
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama meftModel = RandomLlama.create(SHAPE, 2, manager, DataType.FLOAT32);
      Llama parallelModel = RandomLlama.create(SHAPE, 2, manager, DataType.FLOAT32);
      try (InstalledAdapters meft =
              InstalledAdapters.install(meftModel, DENSE, manager, allocator, 5);
          InstalledAdapters parallel =
              InstalledAdapters.install(
                  parallelModel,
                  new ParallelConfig(N, 0.02f, LayerSelection.ALL),
                  manager,
                  allocator,
                  9)) {
        HostStore store = meft.store();
        copyKeys(store, parallel);
        setValues(store, parallel, 7);
        float meftLoss = backward(meftModel, meft, manager);
        float parallelLoss = backward(parallelModel, parallel, manager);
        assertEquals(parallelLoss, meftLoss, 1e-5f, "loss");
        for (int layer = 0; layer < SHAPE.nLayers(); layer++) {
          ParallelAdapter adapter = parallel.adapters(ParallelAdapters.class).adapter(layer);
          float[] keyGrads = adapter.keys().getArray().getGradient().toFloatArray();
          float[] valueGrads = adapter.values().getArray().getGradient().toFloatArray();
          for (int row = 0; row < N; row++) {
            assertClose(
                slice(keyGrads, row), store.keyGradientRow(layer, row), 1e-5f, "key grad " + row);
            assertClose(
                slice(valueGrads, row),
                store.valueGradientRow(layer, row),
                1e-5f,
                "value grad " + row);
          }
        }
      }
    }
  }

  private static float backward(Llama model, InstalledAdapters adapters, NDManager manager) {
    List<TrainingExample> examples = examples();
    try (NDManager step = manager.newSubManager();
        ai.djl.training.GradientCollector collector =
            ai.djl.engine.Engine.getInstance().newGradientCollector()) {
      long[] tokens = examples.get(0).tokens();
      NDArray inputs =
          step.create(
              java.util.Arrays.copyOf(tokens, tokens.length - 1), new Shape(1, tokens.length - 1));
      NDArray targets =
          step.create(
              java.util.Arrays.copyOfRange(tokens, 1, tokens.length),
              new Shape(1, tokens.length - 1));
      NDArray logits = model.forward(new ParameterStore(step, false), inputs, null, true);
      NDArray loss = logits.logSoftmax(-1).gather(targets.expandDims(-1), -1).mean().neg();
      collector.backward(loss);
      adapters.collectGradients();
      return loss.getFloat();
    }
  }

  private static void copyKeys(HostStore store, InstalledAdapters parallel) {
    for (int layer = 0; layer < store.layers(); layer++) {
      float[] keys = new float[N * SHAPE.dim()];
      for (int row = 0; row < N; row++) {
        System.arraycopy(store.keyRow(layer, row), 0, keys, row * SHAPE.dim(), SHAPE.dim());
      }
      Overwrite.floats(
          parallel.adapters(ParallelAdapters.class).adapter(layer).keys().getArray(), keys);
    }
  }

  private static void setValues(HostStore store, InstalledAdapters parallel, long seed) {
    Random random = new Random(seed);
    for (int layer = 0; layer < store.layers(); layer++) {
      float[] values = new float[N * SHAPE.dim()];
      for (int i = 0; i < values.length; i++) {
        values[i] = (float) random.nextGaussian() * 0.05f;
      }
      for (int row = 0; row < N; row++) {
        store.setValueRow(layer, row, slice(values, row));
      }
      Overwrite.floats(
          parallel.adapters(ParallelAdapters.class).adapter(layer).values().getArray(), values);
    }
  }

  static float[] slice(float[] matrix, int row) {
    float[] out = new float[SHAPE.dim()];
    System.arraycopy(matrix, row * SHAPE.dim(), out, 0, SHAPE.dim());
    return out;
  }

  private static float[] logits(Llama model, NDManager manager) {
    try (NDManager step = manager.newSubManager()) {
      NDArray tokens = step.create(new long[] {1, 9, 17, 4, 33, 12}, new Shape(2, 3));
      return model.forward(new ParameterStore(step, false), tokens, null, false).toFloatArray();
    }
  }

  private static List<TrainingExample> examples() {
    Random random = new Random(4);
    List<TrainingExample> examples = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      int length = 5 + random.nextInt(6);
      long[] tokens = new long[length];
      boolean[] mask = new boolean[length];
      tokens[0] = 1;
      for (int t = 1; t < length; t++) {
        tokens[t] = 3 + random.nextInt(60);
        mask[t] = t >= length / 2;
      }
      examples.add(new TrainingExample(tokens, mask));
    }
    return examples;
  }

  static void assertClose(float[] expected, float[] actual, float tolerance, String what) {
    assertEquals(expected.length, actual.length, what);
    float worst = 0;
    for (int i = 0; i < expected.length; i++) {
      worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
    }
    assertTrue(worst <= tolerance, what + ": max abs difference " + worst);
  }
}
