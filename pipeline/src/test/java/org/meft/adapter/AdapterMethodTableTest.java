package org.meft.adapter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.meft.adapter.full.FullConfig;
import org.meft.adapter.lora.LoraConfig;
import org.meft.adapter.meft.KeySource;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.meft.TrainRows;
import org.meft.adapter.parallel.ParallelConfig;
import org.meft.checkpoint.AdapterCheckpoint;
import org.meft.checkpoint.ModelFingerprint;
import org.meft.load.RandomLlama;
import org.meft.model.BaseDtype;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.store.HostStore;
import org.meft.store.StoreDtype;
import org.meft.store.StoreMoments;
import org.meft.store.StoreRate;
import org.meft.testing.AdapterValues;
import org.meft.train.RunSpec;
import org.meft.train.TrainConfig;
import org.meft.train.Trainer;
import org.meft.train.TrainingExample;

/**
 * One table of adapter methods, every method held to the same contract (after Hugging Face PEFT's
 * {@code tests/test_custom_models.py}): installing and closing changes nothing; a non-zero adapter
 * changes the logits; every trainable parameter, and no frozen base weight, gets a gradient; a
 * checkpoint loads back to the same logits; the trainable-parameter meter counts exactly what gets
 * gradients. Adding a method or a variant is one line in {@link #cases()}; compositions ({@code
 * A+B}) are held to the same contract.
 */
class AdapterMethodTableTest {
  static final LlamaConfig SHAPE = LlamaConfig.of(16, 32, 2, 4, 2, 48, 16);
  static final long MODEL_SEED = 1;
  static final long ADAPTER_SEED = 5;
  private static final int N = 16; // parallel and meft neurons per layer
  private static final long[] TOKENS = {1, 9, 17, 4, 33, 12, 40, 7};

  @TempDir Path dir;

  /** The table: a name and a configuration per case. */
  static Stream<Arguments> cases() {
    MeftConfig meft =
        new MeftConfig(
            N,
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
    ParallelConfig parallel = new ParallelConfig(N, 0.5f, LayerSelection.ALL);
    MeftConfig compact =
        new MeftConfig(
            N,
            3,
            4,
            2,
            8,
            0.5f,
            KeySource.RANDOM,
            StoreRate.RUN,
            TrainRows.ALL,
            StoreDtype.BF16,
            StoreMoments.INT8,
            LayerSelection.ALL);
    MeftConfig frozenKeys =
        new MeftConfig(
            N,
            3,
            4,
            2,
            8,
            0.5f,
            KeySource.RANDOM,
            new StoreRate(0f, 1f, StoreRate.Schedule.RUN, StoreRate.Frequency.NONE),
            TrainRows.ALL,
            StoreDtype.BF16,
            StoreMoments.INT8,
            LayerSelection.ALL);
    return Stream.of(
        arguments("meft", meft),
        arguments("meft store-dtype bf16 store-moments int8", compact),
        arguments("meft bf16 int8 frozen keys", frozenKeys),
        arguments("parallel", parallel),
        arguments("full last:1", new FullConfig(new LayerSelection("last:1"))),
        arguments("lora q", lora("q")),
        arguments("lora k", lora("k")),
        arguments("lora v", lora("v")),
        arguments("lora o", lora("o")),
        arguments("lora gate", lora("gate")),
        arguments("lora up", lora("up")),
        arguments("lora down", lora("down")),
        arguments("lora all", lora("q", "k", "v", "o", "gate", "up", "down")),
        arguments("meft+lora", new ComposedConfig(meft, lora("q", "v", "up", "down"))),
        arguments(
            "meft+parallel",
            new ComposedConfig(meft, new ParallelConfig(4, 0.5f, LayerSelection.ALL))));
  }

  /**
   * A registered method without a line in the table fails here; so does a table of no composition.
   */
  @Test
  void everyRegisteredMethodAndEveryLoraTargetIsInTheTable() {
    Set<String> methods = new TreeSet<>();
    Set<String> loraTargets = new TreeSet<>();
    cases()
        .map(c -> (AdapterConfig) c.get()[1])
        .forEach(
            config -> {
              methods.add(config.method().name());
              if (config instanceof LoraConfig lora && lora.projections().size() == 1) {
                loraTargets.addAll(lora.projections());
              }
            });
    Set<String> composed = new TreeSet<>();
    methods.removeIf(m -> m.contains(ComposedMethod.JOIN) && composed.add(m));
    assertEquals(new TreeSet<>(AdapterMethods.names()), methods);
    assertEquals(Set.of("meft+lora", "meft+parallel"), composed);
    assertEquals(new TreeSet<>(LoraConfig.ALL_PROJECTIONS), loraTargets);
  }

  private static LoraConfig lora(String... projections) {
    return new LoraConfig(2, 4f, 0.1f, Set.of(projections), LayerSelection.ALL);
  }

  // ---------------------------------------------------------------------------------- checks

  /** (a) Install then close: the model computes bit for bit what it did, and nothing trains. */
  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void installingThenClosingLeavesTheModelUnchanged(String name, AdapterConfig config) {
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(SHAPE, MODEL_SEED, manager, DataType.FLOAT32);
      float[] base = logits(model, manager);
      String fingerprint = ModelFingerprint.of(model);
      try (InstalledAdapters adapters =
          InstalledAdapters.install(model, config, manager, allocator, ADAPTER_SEED)) {
        assertBitIdentical(base, logits(model, manager), name + ": installed, at initialisation");
      }
      assertBitIdentical(base, logits(model, manager), name + ": installed, then closed");
      assertEquals(fingerprint, ModelFingerprint.of(model), name + ": base weights changed");
      for (Llama.Weight weight : model.weights()) {
        assertFalse(
            weight.parameter().getArray().hasGradient(),
            name + ": " + weight.name() + " still trains after closing");
      }
    }
  }

  /** (b) Non-zero trainable values (LoRA B, parallel and meft values start at zero) show. */
  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void nonZeroAdapterChangesTheLogits(String name, AdapterConfig config) {
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(SHAPE, MODEL_SEED, manager, DataType.FLOAT32);
      float[] base = logits(model, manager);
      try (InstalledAdapters adapters =
          InstalledAdapters.install(model, config, manager, allocator, ADAPTER_SEED)) {
        AdapterValues.nonZero(adapters, 0.1f);
        float[] adapted = logits(model, manager);
        assertFalse(
            Arrays.equals(base, adapted),
            name + ": non-zero trainable values leave the logits unchanged");
      }
    }
  }

  /**
   * (c) After one forward and backward, with the trainable values non-zero (LoRA A gets no gradient
   * while B is zero, nor parallel keys while the values are), every trainable parameter has a
   * non-zero gradient, meft's host rows included, and no frozen base weight has one.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void everyTrainableParameterAndNoFrozenWeightGetsAGradient(String name, AdapterConfig config) {
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(SHAPE, MODEL_SEED, manager, DataType.FLOAT32);
      try (InstalledAdapters adapters =
          InstalledAdapters.install(model, config, manager, allocator, ADAPTER_SEED)) {
        AdapterValues.nonZero(adapters, 0.1f);
        Gradients gradients = backward(model, adapters, manager, name);
        assertTrue(
            gradients.zero().isEmpty(),
            name
                + ": no gradient reaches "
                + gradients.zero()
                + " (non-zero: "
                + gradients.nonZero()
                + ")");
        assertTrue(
            gradients.frozenWithGradient().isEmpty(),
            name + ": frozen base weights with a gradient: " + gradients.frozenWithGradient());
      }
    }
  }

  /** The methods trained over a half-precision base (full fine-tuning refuses one). */
  static Stream<Arguments> halfBaseCases() {
    return cases()
        .filter(c -> Set.of("meft", "parallel", "lora q", "meft+lora").contains(c.get()[0]));
  }

  /**
   * (c') Over an f16 base, every trainable parameter still gets a finite non-zero float32 gradient:
   * the casts between the base's type and the adapters' float32 are differentiable.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("halfBaseCases")
  void everyTrainableParameterGetsAFiniteGradientThroughAnF16Base(
      String name, AdapterConfig config) {
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(SHAPE, MODEL_SEED, manager, DataType.FLOAT16);
      try (InstalledAdapters adapters =
          InstalledAdapters.install(model, config, manager, allocator, ADAPTER_SEED)) {
        AdapterValues.nonZero(adapters, 0.1f);
        Gradients gradients = backward(model, adapters, manager, name);
        assertTrue(gradients.zero().isEmpty(), name + ": no gradient reaches " + gradients.zero());
        assertTrue(gradients.nonFinite().isEmpty(), name + ": non-finite " + gradients.nonFinite());
        for (Parameter parameter : adapters.deviceParameters()) {
          assertEquals(DataType.FLOAT32, parameter.getArray().getDataType(), name);
        }
      }
    }
  }

  @Test
  void fullFineTuningRefusesAHalfBase() {
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(SHAPE, MODEL_SEED, manager, DataType.FLOAT16);
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  InstalledAdapters.install(
                      model,
                      new FullConfig(new LayerSelection("last:1")),
                      manager,
                      allocator,
                      ADAPTER_SEED));
      assertTrue(e.getMessage().contains("--base-dtype f32"), e.getMessage());
    }
  }

  /** (d) A checkpoint loaded into a fresh copy of the base model computes the same logits. */
  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void checkpointLoadsBackToIdenticalLogits(String name, AdapterConfig config) {
    float[] written;
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(SHAPE, MODEL_SEED, manager, DataType.FLOAT32);
      String fingerprint = ModelFingerprint.of(model);
      TrainConfig train = TrainConfig.defaults(1, 1, 1e-2f);
      RunSpec spec =
          new RunSpec(
              Path.of("model"),
              null,
              Path.of("data.jsonl"),
              config,
              train,
              64L << 20,
              1,
              BaseDtype.F32);
      try (InstalledAdapters adapters =
          InstalledAdapters.install(model, config, manager, allocator, ADAPTER_SEED)) {
        AdapterValues.nonZero(adapters, 0.1f);
        // One step, so that the checkpoint holds a trainer snapshot, as a run's does.
        new Trainer(model, adapters, train, null)
            .train(
                List.of(example()),
                manager,
                null,
                (snapshot, soFar) ->
                    AdapterCheckpoint.write(
                        dir, spec, fingerprint, adapters, snapshot, soFar, allocator));
        written = logits(model, manager);
      }
    }
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(SHAPE, MODEL_SEED, manager, DataType.FLOAT32);
      try (InstalledAdapters loaded = AdapterCheckpoint.load(dir, model, manager, allocator)) {
        assertBitIdentical(written, logits(model, manager), name + ": loaded checkpoint");
      }
    }
  }

  /**
   * (e) The trainable-parameter meter is the size of what gets gradients: the device parameters
   * and, for meft, the host store's keys and values (2 layers N D).
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void trainableParameterMeterCountsWhatGetsGradients(String name, AdapterConfig config) {
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(SHAPE, MODEL_SEED, manager, DataType.FLOAT32);
      try (InstalledAdapters adapters =
          InstalledAdapters.install(model, config, manager, allocator, ADAPTER_SEED)) {
        AdapterValues.nonZero(adapters, 0.1f);
        Gradients gradients = backward(model, adapters, manager, name);
        long learning = gradients.nonZero().values().stream().mapToLong(Long::longValue).sum();
        assertEquals(
            learning,
            adapters.trainableParameters(),
            name + ": the meter against what gets gradients " + gradients.nonZero());
      }
    }
  }

  // --------------------------------------------------------------------------------- helpers

  /**
   * After one backward pass: the trainable parameters (sizes by name) whose gradient is non-zero,
   * those whose gradient is zero, and the frozen base weights that have a gradient at all.
   */
  private record Gradients(
      Map<String, Long> nonZero,
      List<String> zero,
      List<String> frozenWithGradient,
      List<String> nonFinite) {}

  /** Mean cross-entropy of TOKENS' next tokens, backward, and a survey of the gradients. */
  private static Gradients backward(
      Llama model, InstalledAdapters adapters, NDManager manager, String what) {
    try (NDManager step = manager.newSubManager();
        GradientCollector collector = Engine.getInstance().newGradientCollector()) {
      int t = TOKENS.length - 1;
      NDArray inputs = step.create(Arrays.copyOf(TOKENS, t), new Shape(1, t));
      NDArray targets = step.create(Arrays.copyOfRange(TOKENS, 1, t + 1), new Shape(1, t));
      NDArray logits = model.forward(new ParameterStore(step, false), inputs, null, true);
      NDArray loss = logits.logSoftmax(-1).gather(targets.expandDims(-1), -1).mean().neg();
      // Fails when the loss depends on no trainable parameter at all.
      assertDoesNotThrow(() -> collector.backward(loss), what + ": backward");
      adapters.collectGradients();
    }
    Map<String, Long> nonZero = new LinkedHashMap<>();
    List<String> zero = new ArrayList<>();
    List<String> nonFinite = new ArrayList<>();
    Set<Parameter> trainable = Collections.newSetFromMap(new IdentityHashMap<>());
    for (Map.Entry<String, Parameter> e : adapters.namedDeviceParameters().entrySet()) {
      trainable.add(e.getValue());
      NDArray array = e.getValue().getArray();
      boolean any;
      try (NDArray gradient = array.getGradient()) {
        float[] values = gradient.toFloatArray();
        any = anyNonZero(values);
        if (!allFinite(values)) {
          nonFinite.add(e.getKey());
        }
      }
      record(e.getKey(), array.size(), any, nonZero, zero);
    }
    List<String> frozenWithGradient = new ArrayList<>();
    HostStore store = adapters.store();
    if (store != null) {
      for (int layer = 0; layer < store.layers(); layer++) {
        boolean keys = false;
        boolean values = false;
        for (int row = 0; row < store.rows(); row++) {
          keys |= anyNonZero(store.keyGradientRow(layer, row));
          values |= anyNonZero(store.valueGradientRow(layer, row));
          if (!allFinite(store.keyGradientRow(layer, row))
              || !allFinite(store.valueGradientRow(layer, row))) {
            nonFinite.add("store." + layer + ".row " + row);
          }
        }
        long size = (long) store.rows() * store.dim();
        if (store.format().trainKeys()) {
          record("store." + layer + ".keys", size, keys, nonZero, zero);
        } else if (keys) {
          frozenWithGradient.add("store." + layer + ".keys");
        }
        record("store." + layer + ".values", size, values, nonZero, zero);
      }
    }
    for (Llama.Weight weight : model.weights()) {
      if (!trainable.contains(weight.parameter()) && weight.parameter().getArray().hasGradient()) {
        frozenWithGradient.add(weight.name());
      }
    }
    return new Gradients(nonZero, zero, frozenWithGradient, nonFinite);
  }

  private static void record(
      String name, long size, boolean nonZero, Map<String, Long> learning, List<String> not) {
    if (nonZero) {
      learning.put(name, size);
    } else {
      not.add(name);
    }
  }

  private static boolean allFinite(float[] values) {
    for (float v : values) {
      if (!Float.isFinite(v)) {
        return false;
      }
    }
    return true;
  }

  private static boolean anyNonZero(float[] values) {
    for (float v : values) {
      if (v != 0) {
        return true;
      }
    }
    return false;
  }

  /** TOKENS as a training example whose loss covers every token after the first. */
  private static TrainingExample example() {
    boolean[] mask = new boolean[TOKENS.length];
    Arrays.fill(mask, 1, mask.length, true);
    return new TrainingExample(TOKENS, mask);
  }

  /** Logits [1, T, V] of TOKENS, flattened. */
  private static float[] logits(Llama model, NDManager manager) {
    try (NDManager step = manager.newSubManager()) {
      NDArray tokens = step.create(TOKENS, new Shape(1, TOKENS.length));
      return model.forward(new ParameterStore(step, false), tokens, null, false).toFloatArray();
    }
  }

  /** Equal bit for bit (a -0 for a +0 counts as a change). */
  private static void assertBitIdentical(float[] expected, float[] actual, String what) {
    assertArrayEquals(bits(expected), bits(actual), what + ": logits not bit-identical");
  }

  private static int[] bits(float[] values) {
    int[] bits = new int[values.length];
    for (int i = 0; i < values.length; i++) {
      bits[i] = Float.floatToRawIntBits(values[i]);
    }
    return bits;
  }
}
