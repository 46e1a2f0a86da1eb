package org.meft.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.ComposedConfig;
import org.meft.adapter.ComposedMethod;
import org.meft.adapter.InstalledAdapters;
import org.meft.adapter.LayerSelection;
import org.meft.adapter.full.FullConfig;
import org.meft.adapter.lora.LoraConfig;
import org.meft.adapter.meft.KeySource;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.meft.TrainRows;
import org.meft.adapter.parallel.ParallelConfig;
import org.meft.load.RandomLlama;
import org.meft.model.BaseDtype;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.store.HostStore;
import org.meft.store.StoreDtype;
import org.meft.store.StoreMoments;
import org.meft.store.StoreRate;
import org.meft.train.RunSpec;
import org.meft.train.TrainConfig;
import org.meft.train.TrainResult;
import org.meft.train.Trainer;
import org.meft.train.TrainerSnapshot;
import org.meft.train.TrainingExample;

/**
 * Six steps in one go equal three steps, a checkpoint, a fresh model, adapter and allocator loaded
 * from it, and three more steps: the same loss at every step and the same final weights, host store
 * and optimizer state included; for every method and for compositions, which the checkpoint's
 * manifest rebuilds.
 */
class ExactResumeTest {
  static final LlamaConfig SHAPE = LlamaConfig.of(32, 64, 2, 4, 2, 64, 32);
  private static final int STEPS = 6;
  private static final int STOP = 3;

  @TempDir Path dir;

  /** Thrown by a listener to stop training as a killed task would. */
  private static final class Killed extends RuntimeException {
    private static final long serialVersionUID = 1L;
  }

  /** A method's configuration here; {@code A+B} composes A's and B's. */
  static AdapterConfig config(String method) {
    int join = method.indexOf(ComposedMethod.JOIN);
    if (join >= 0) {
      return new ComposedConfig(
          config(method.substring(0, join)), config(method.substring(join + 1)));
    }
    return switch (method) {
      case "meft" ->
          new MeftConfig(
              48,
              4,
              6,
              2,
              24,
              0.02f,
              KeySource.RANDOM,
              StoreRate.RUN,
              TrainRows.ALL,
              StoreDtype.F32,
              StoreMoments.F32,
              LayerSelection.ALL);
      case "parallel" -> new ParallelConfig(24, 0.02f, LayerSelection.ALL);
      case "lora" ->
          new LoraConfig(
              4, 8, 0.1f, new LinkedHashSet<>(List.of("q", "v", "down")), LayerSelection.ALL);
      default -> new FullConfig(new LayerSelection("last:1"));
    };
  }

  static TrainConfig train() {
    // Warm-up and cosine decay both happen within the six steps; clipping is active.
    return TrainConfig.defaults(STEPS, 2, 2e-2f).withSchedule(2, 0.1f, 0.5f).withSeed(11);
  }

  static RunSpec spec(AdapterConfig adapter) {
    return spec(adapter, train());
  }

  /** The run a checkpoint records; its counters are checked against {@code train}. */
  static RunSpec spec(AdapterConfig adapter, TrainConfig train) {
    return new RunSpec(
        Path.of("model"), null, Path.of("data.jsonl"), adapter, train, 64L << 20, 3, BaseDtype.F32);
  }

  /**
   * Final state of a run: every device parameter and every store value, by name, and the run's
   * metrics that are not speeds.
   */
  record Outcome(List<Float> losses, Map<String, float[]> weights, List<Number> meters) {
    Outcome(TrainResult result, Map<String, float[]> weights) {
      this(
          result.losses(),
          weights,
          List.of(
              result.steps(),
              result.skippedSteps(),
              result.trainableParams(),
              result.deviceAdapterBytesPeak(),
              result.hostStoreBytes(),
              result.hostToDeviceBytesPerStep(),
              result.deviceToHostBytesPerStep(),
              result.meanRowsPerLayer()));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"meft", "parallel", "lora", "full", "meft+lora", "meft+parallel"})
  void resumedRunEqualsUninterruptedRun(String method) throws Exception {
    assertResumedRunEqualsUninterruptedRun(method, train());
  }

  /** The same with activation recomputation, whose meft rows and LoRA dropout replay per layer. */
  @ParameterizedTest
  @ValueSource(strings = {"meft", "lora", "full", "meft+lora"})
  void resumedRecomputedRunEqualsUninterruptedRun(String method) throws Exception {
    assertResumedRunEqualsUninterruptedRun(method, train().withRecomputeActivations(true));
  }

  private void assertResumedRunEqualsUninterruptedRun(String method, TrainConfig train)
      throws Exception {
    AdapterConfig adapter = config(method);
    List<TrainingExample> examples = examples();
    Outcome straight;
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(SHAPE, 1, manager, DataType.FLOAT32);
      try (InstalledAdapters adapters =
          InstalledAdapters.install(model, adapter, manager, allocator, 5)) {
        TrainResult result = new Trainer(model, adapters, train, null).train(examples, manager);
        straight = new Outcome(result, weights(adapters, model));
      }
    }

    Path runDir = dir.resolve(method + (train.recomputeActivations() ? "-recomputed" : ""));
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(SHAPE, 1, manager, DataType.FLOAT32);
      String fingerprint = ModelFingerprint.of(model);
      try (InstalledAdapters adapters =
          InstalledAdapters.install(model, adapter, manager, allocator, 5)) {
        Trainer.StepListener killAfterCheckpoint =
            (snapshot, soFar) -> {
              if (snapshot.state().step() == STOP) {
                AdapterCheckpoint.write(
                    runDir, spec(adapter), fingerprint, adapters, snapshot, soFar, allocator);
                throw new Killed();
              }
            };
        assertThrows(
            Killed.class,
            () ->
                new Trainer(model, adapters, train, null)
                    .train(examples, manager, null, killAfterCheckpoint));
      }
    }

    Outcome resumed;
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(SHAPE, 1, manager, DataType.FLOAT32);
      Path checkpoint = AdapterCheckpoint.latest(runDir).orElseThrow();
      assertEquals(runDir.resolve("checkpoint-000003"), checkpoint);
      try (InstalledAdapters adapters =
              AdapterCheckpoint.load(checkpoint, model, manager, allocator);
          NDManager resumeManager = manager.newSubManager()) {
        TrainerSnapshot snapshot = AdapterCheckpoint.readTrainerSnapshot(checkpoint, resumeManager);
        assertEquals(STOP, snapshot.state().step());
        TrainResult result =
            new Trainer(model, adapters, train, null).train(examples, manager, snapshot, null);
        resumed = new Outcome(result, weights(adapters, model));
      }
    }

    // Same operations on the same values in the same order on the CPU: expect bit-identical.
    assertEquals(STEPS, resumed.losses().size());
    for (int step = 0; step < STEPS; step++) {
      assertEquals(
          straight.losses().get(step), resumed.losses().get(step), 0f, method + " loss " + step);
    }
    assertEquals(straight.weights().keySet(), resumed.weights().keySet());
    for (String name : straight.weights().keySet()) {
      assertArrayEquals(
          straight.weights().get(name), resumed.weights().get(name), 0f, method + " " + name);
    }
    // The metrics cover the whole run, carried from the checkpoint: steps, skipped steps,
    // trainable parameters, device peak, host store bytes, bus bytes per step, rows per layer.
    assertEquals(straight.meters(), resumed.meters(), method + " metrics");
    assertTrue(((Number) straight.meters().get(5)).doubleValue() > 0 || !method.equals("meft"));
    assertTrue(Files.isRegularFile(runDir.resolve("checkpoint-000003/manifest.json")));
  }

  static Map<String, float[]> weights(InstalledAdapters adapters, Llama model) {
    Map<String, float[]> weights = new TreeMap<>();
    for (Map.Entry<String, Parameter> e : adapters.namedDeviceParameters().entrySet()) {
      weights.put(e.getKey(), e.getValue().getArray().toFloatArray());
    }
    for (Llama.Weight w : model.weights()) {
      weights.put("base." + w.name(), w.parameter().getArray().toFloatArray());
    }
    HostStore store = adapters.store();
    if (store != null) {
      for (int layer = 0; layer < store.layers(); layer++) {
        for (int row = 0; row < store.rows(); row++) {
          String p = "store." + layer + "." + row + ".";
          weights.put(p + "key", store.keyRow(layer, row));
          weights.put(p + "value", store.valueRow(layer, row));
          weights.put(p + "key_m", store.keyMomentRow(layer, row, 1));
          weights.put(p + "value_v", store.valueMomentRow(layer, row, 2));
          weights.put(p + "step", new float[] {store.stepCount(layer, row)});
        }
      }
    }
    return weights;
  }

  /**
   * Trains {@code adapter} on {@code model} for one step, writes its checkpoint into {@code runDir}
   * and returns the model's fingerprint; the adapter is removed again.
   */
  static String checkpointAfterOneStep(
      Path runDir,
      AdapterConfig adapter,
      Llama model,
      NDManager manager,
      BufferAllocator allocator) {
    String fingerprint = ModelFingerprint.of(model);
    try (InstalledAdapters adapters =
        InstalledAdapters.install(model, adapter, manager, allocator, 5)) {
      new Trainer(model, adapters, TrainConfig.defaults(1, 2, 1e-2f), null)
          .train(
              examples(),
              manager,
              null,
              (snapshot, soFar) ->
                  AdapterCheckpoint.write(
                      runDir, spec(adapter), fingerprint, adapters, snapshot, soFar, allocator));
    }
    return fingerprint;
  }

  static List<TrainingExample> examples() {
    Random random = new Random(4);
    List<TrainingExample> examples = new ArrayList<>();
    for (int i = 0; i < 5; i++) { // 5 examples, batch 2: the order reshuffles mid-run
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
}
