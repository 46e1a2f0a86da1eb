package org.meft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.InstalledAdapters;
import org.meft.adapter.LayerSelection;
import org.meft.adapter.lora.LoraConfig;
import org.meft.adapter.meft.KeySource;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.meft.TrainRows;
import org.meft.adapter.parallel.ParallelConfig;
import org.meft.load.RandomLlama;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.reversible.Architecture;
import org.meft.reversible.Halves;
import org.meft.reversible.ReversibleConfig;
import org.meft.reversible.ReversibleStack;
import org.meft.store.HostStore;
import org.meft.store.StoreDtype;
import org.meft.store.StoreMoments;
import org.meft.store.StoreRate;
import org.meft.testing.AdapterValues;

/**
 * The reversible backward ({@link ReversibleTraining}: inputs rebuilt from outputs, F and G
 * recomputed, meft rows replayed) gives the gradients of ordinary autograd through the same
 * reversible network, with the same parameters, in float64: every device parameter (the base's
 * adapters and the block adapters) and meft's host row gradients, for MEFT1, MEFT2 and MEFT3, each
 * with a parallel, a LoRA and a sparse meft adapter inside. Two of three layers are reversible, so
 * the ordinary layer above the stack is covered too.
 */
class ReversibleBackwardTest {
  private static final LlamaConfig SHAPE = LlamaConfig.of(16, 32, 3, 4, 2, 48, 16);
  private static final double TOLERANCE = 1e-8;

  static Stream<Arguments> cases() {
    List<Arguments> cases = new ArrayList<>();
    for (Architecture architecture : Architecture.values()) {
      cases.add(
          arguments(architecture, "parallel", new ParallelConfig(16, 0.5f, LayerSelection.ALL)));
      cases.add(
          arguments(
              architecture,
              "lora",
              new LoraConfig(2, 4f, 0f, Set.of("q", "v", "up"), LayerSelection.ALL)));
      cases.add(
          arguments(
              architecture,
              "meft",
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
                  LayerSelection.ALL)));
    }
    return cases.stream();
  }

  @ParameterizedTest(name = "{0} with {1}")
  @MethodSource("cases")
  void reversibleBackwardEqualsAutograd(
      Architecture architecture, String name, AdapterConfig adapter) {
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(1L << 28)) {
      Llama model = RandomLlama.create(SHAPE, 5, manager, DataType.FLOAT64);
      try (InstalledAdapters adapters =
          InstalledAdapters.install(model, adapter, manager, allocator, 11)) {
        ReversibleConfig config =
            new ReversibleConfig(
                architecture, 2, architecture.defaultLambda(), architecture.defaultBeta(), 8);
        ReversibleStack.install(model, config, adapters, manager, 13);
        AdapterValues.nonZero(adapters, 0.3f);
        widen(adapters);
        ParameterStore ps = new ParameterStore(manager, false);
        Trainer.Batch batch = Trainer.Batch.of(examples(), manager);

        try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
          NDArray logits = model.forward(ps, batch.inputs(), null, true);
          collector.backward(Trainer.maskedCrossEntropy(logits, batch.targets(), batch.mask()));
        }
        adapters.collectGradients();
        Map<String, double[]> expected = gradients(adapters);
        zeroGradients(adapters);

        ReversibleTraining.forwardBackward(
            model, adapters, ReversibleStack.of(model), ps, batch, 1);
        adapters.collectGradients();
        Map<String, double[]> actual = gradients(adapters);

        assertEquals(expected.keySet(), actual.keySet());
        boolean blockAdapters = architecture.hasBlockAdapter();
        assertEquals(
            blockAdapters,
            expected.keySet().stream().anyMatch(k -> k.contains(".reversible.")),
            "the block adapters train with the rest");
        for (String key : expected.keySet()) {
          double[] e = expected.get(key);
          double[] a = actual.get(key);
          double scale = 0;
          double diff = 0;
          for (int i = 0; i < e.length; i++) {
            scale = Math.max(scale, Math.abs(e[i]));
            diff = Math.max(diff, Math.abs(e[i] - a[i]));
          }
          assertTrue(scale > 0, key + ": a gradient of zero would prove nothing");
          assertTrue(
              diff <= TOLERANCE * scale,
              architecture + " " + name + " " + key + ": max difference " + diff + " of " + scale);
        }
      }
    }
  }

  /**
   * The reconstruction error over 8 reversible layers, reported in float32 and float64: each layer
   * divides the rounding of its inverse by lambda or beta, so it grows geometrically with depth
   * (the paper's reason for reversing only the lowest layers of deep models); float64 must rebuild
   * better than float32. The adapters hold N(0, 0.02^2) values, as early in training.
   */
  @Test
  void rebuiltInputsAfterEightLayers() {
    LlamaConfig shape = LlamaConfig.of(16, 32, 8, 4, 2, 48, 16);
    for (Architecture architecture : Architecture.values()) {
      double float32 = rebuildError(shape, architecture, DataType.FLOAT32);
      double float64 = rebuildError(shape, architecture, DataType.FLOAT64);
      System.out.printf(
          "reversible %s, 8 layers: rebuilt input's max relative error %.3g in float32, %.3g in"
              + " float64%n",
          architecture.flagName(), float32, float64);
      // A wrong inverse would err alike in both types; rounding shrinks ~5e8-fold in float64.
      assertTrue(
          float64 < 1e-3 * float32,
          architecture + " rebuild error " + float64 + " in float64, " + float32 + " in float32");
    }
  }

  /** max |x_0 - rebuilt x_0| / max |x_0| after the stack's forward and its inversion. */
  private static double rebuildError(LlamaConfig shape, Architecture architecture, DataType type) {
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(1L << 28)) {
      Llama model = RandomLlama.create(shape, 5, manager, type);
      AdapterConfig adapter = new ParallelConfig(16, 0.5f, LayerSelection.ALL);
      try (InstalledAdapters adapters =
          InstalledAdapters.install(model, adapter, manager, allocator, 11)) {
        ReversibleStack.install(model, ReversibleConfig.of(architecture), adapters, manager, 13);
        AdapterValues.nonZero(adapters, 0.02f);
        if (type == DataType.FLOAT64) {
          widen(adapters);
        }
        ReversibleStack stack = ReversibleStack.of(model);
        ParameterStore ps = new ParameterStore(manager, false);
        Trainer.Batch batch = Trainer.Batch.of(examples(), manager);
        NDArray x0 = model.embed(ps, batch.inputs(), false);
        Halves top = stack.forwardKeepingTop(ps, x0, model.rope(batch.inputs(), 0), () -> {});
        Halves rebuilt = stack.rebuild(ps, top, model.rope(batch.inputs(), 0));
        double scale = x0.abs().max().toType(DataType.FLOAT64, false).getDouble();
        double error =
            Math.max(
                x0.sub(rebuilt.first()).abs().max().toType(DataType.FLOAT64, false).getDouble(),
                x0.sub(rebuilt.second()).abs().max().toType(DataType.FLOAT64, false).getDouble());
        return error / scale;
      }
    }
  }

  /** Two padded sequences of random tokens, the loss on the second half of each. */
  static List<TrainingExample> examples() {
    Random random = new Random(7);
    List<TrainingExample> examples = new ArrayList<>();
    for (int length : new int[] {9, 6}) {
      long[] tokens = new long[length];
      boolean[] mask = new boolean[length];
      for (int i = 0; i < length; i++) {
        tokens[i] = random.nextInt(SHAPE.vocabSize());
        mask[i] = i >= length / 2;
      }
      examples.add(new TrainingExample(tokens, mask));
    }
    return examples;
  }

  /** Every device parameter's gradient and meft's host row gradients, by name, as doubles. */
  private static Map<String, double[]> gradients(InstalledAdapters adapters) {
    Map<String, double[]> all = new LinkedHashMap<>();
    for (Map.Entry<String, Parameter> e : adapters.namedDeviceParameters().entrySet()) {
      try (NDArray gradient = e.getValue().getArray().getGradient();
          NDArray wide = gradient.toType(DataType.FLOAT64, false)) {
        all.put(e.getKey(), wide.toDoubleArray());
      }
    }
    HostStore store = adapters.store();
    if (store != null) {
      for (int layer = 0; layer < store.layers(); layer++) {
        double[] keys = new double[store.rows() * store.dim()];
        double[] values = new double[keys.length];
        for (int row = 0; row < store.rows(); row++) {
          float[] k = store.keyGradientRow(layer, row);
          float[] v = store.valueGradientRow(layer, row);
          for (int c = 0; c < store.dim(); c++) {
            keys[row * store.dim() + c] = k[c];
            values[row * store.dim() + c] = v[c];
          }
        }
        all.put("host." + layer + ".keys", keys);
        all.put("host." + layer + ".values", values);
      }
      store.discardGradients();
    }
    return all;
  }

  /**
   * The adapters' device parameters in float64, as the tiny model's (the adapters make them
   * float32). DJL's Parameter takes an array once, so its recorded shape is cleared first.
   */
  private static void widen(InstalledAdapters adapters) {
    try {
      Field shape = Parameter.class.getDeclaredField("shape");
      shape.setAccessible(true);
      for (Parameter parameter : adapters.deviceParameters()) {
        NDArray wide = parameter.getArray().toType(DataType.FLOAT64, true);
        parameter.close();
        shape.set(parameter, null);
        parameter.setArray(wide);
        wide.setRequiresGradient(true);
      }
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void zeroGradients(InstalledAdapters adapters) {
    for (Parameter parameter : adapters.deviceParameters()) {
      try (NDScope scope = new NDScope();
          NDArray gradient = parameter.getArray().getGradient()) {
        scope.suppressNotUsedWarning();
        gradient.set(new NDIndex("..."), 0);
      }
    }
  }
}
