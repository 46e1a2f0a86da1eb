package org.meft.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.util.Arrays;
import java.util.Set;
import java.util.stream.Stream;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.ComposedConfig;
import org.meft.adapter.InstalledAdapters;
import org.meft.adapter.LayerSelection;
import org.meft.adapter.lora.LoraConfig;
import org.meft.adapter.meft.KeySource;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.meft.TrainRows;
import org.meft.adapter.parallel.ParallelConfig;
import org.meft.load.RandomLlama;
import org.meft.reversible.Architecture;
import org.meft.reversible.ReversibleConfig;
import org.meft.reversible.ReversibleStack;
import org.meft.store.StoreDtype;
import org.meft.store.StoreMoments;
import org.meft.store.StoreRate;
import org.meft.testing.AdapterValues;

/**
 * The one-token inference pass ({@link TokenDecoder}: in-place norms and rotations, fused residual
 * sums, attention over the whole cache buffer under a mask) gives the logits of recomputing each
 * whole sequence with the ordinary forward pass, for two sequences decoded together: on the base
 * model, with LoRA on every projection, with meft beside the FFN (and parallel too), and with each
 * reversible architecture on the two lowest layers (the stack composing the pass's blocks).
 */
class TokenDecoderTest {
  private static final LlamaConfig SHAPE = LlamaConfig.of(32, 64, 3, 4, 2, 64, 64);
  private static final int STEPS = 12;

  static Stream<Arguments> models() {
    AdapterConfig lora =
        new LoraConfig(2, 4f, 0f, Set.copyOf(LoraConfig.ALL_PROJECTIONS), LayerSelection.ALL);
    AdapterConfig meft =
        new MeftConfig(
            64,
            4,
            8,
            2,
            8,
            0.5f,
            KeySource.RANDOM,
            StoreRate.RUN,
            TrainRows.ALL,
            StoreDtype.F32,
            StoreMoments.F32,
            LayerSelection.ALL);
    AdapterConfig parallel = new ParallelConfig(16, 0.5f, LayerSelection.ALL);
    return Stream.of(
        Arguments.of("base", null, null),
        Arguments.of("lora on every projection", lora, null),
        Arguments.of("meft", meft, null),
        Arguments.of(
            "meft+parallel: two adapters beside the FFN", new ComposedConfig(meft, parallel), null),
        Arguments.of("reversible meft1 (2 of 3 layers) over lora", lora, Architecture.MEFT1),
        Arguments.of("reversible meft2 (2 of 3 layers) over meft", meft, Architecture.MEFT2),
        Arguments.of(
            "reversible meft3 (2 of 3 layers) over parallel", parallel, Architecture.MEFT3));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("models")
  void oneTokenPassesEqualFullRecomputation(
      String name, AdapterConfig adapter, Architecture reversible) {
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(SHAPE, 23, manager, DataType.FLOAT32);
      try (InstalledAdapters adapters =
          adapter == null
              ? null
              : InstalledAdapters.install(model, adapter, manager, allocator, 5)) {
        if (reversible != null) {
          ReversibleConfig config =
              new ReversibleConfig(
                  reversible,
                  2,
                  reversible.defaultLambda(),
                  reversible.defaultBeta(),
                  ReversibleConfig.NONE.adapterSize());
          ReversibleStack.install(model, config, adapters, manager, 7);
        }
        if (adapters != null) {
          AdapterValues.nonZero(adapters, 0.3f);
        }
        assertOneTokenPassesEqualFullRecomputation(model, manager);
      }
    }
  }

  private static void assertOneTokenPassesEqualFullRecomputation(Llama model, NDManager manager) {
    ParameterStore ps = new ParameterStore(manager, false);
    long[][] sequences = {{1, 10, 11, 12}, {1, 30, 7, 19}};
    int b = sequences.length;
    int width = sequences[0].length;
    try (KvCache cache = new KvCache(manager, SHAPE.nLayers(), width + STEPS);
        TokenDecoder decoder = new TokenDecoder(model, manager)) {
      Rope table = model.ropeTable(manager);
      long[] next;
      try (NDManager step = manager.newSubManager()) {
        long[] flat = new long[b * width];
        long[] positions = new long[b * width];
        for (int r = 0; r < b; r++) {
          System.arraycopy(sequences[r], 0, flat, r * width, width);
          for (int c = 0; c < width; c++) {
            positions[r * width + c] = c;
          }
        }
        Rope rope = table.gather(step.create(positions, new Shape(b, width)));
        NDArray logits =
            model.forwardLast(ps, step.create(flat, new Shape(b, width)), rope, null, cache);
        next = argmax(logits.toFloatArray(), b);
      }
      for (int s = 0; s < STEPS; s++) {
        for (int r = 0; r < b; r++) {
          sequences[r] = Arrays.copyOf(sequences[r], sequences[r].length + 1);
          sequences[r][sequences[r].length - 1] = next[r];
        }
        try (NDManager step = manager.newSubManager()) {
          int column = cache.length();
          float[] visible = new float[b * cache.capacity()];
          for (int r = 0; r < b; r++) {
            Arrays.fill(
                visible,
                r * cache.capacity() + column + 1,
                (r + 1) * cache.capacity(),
                Float.NEGATIVE_INFINITY);
          }
          NDArray mask = step.create(visible, new Shape(b, 1, 1, cache.capacity()));
          NDArray positions = step.create(new long[] {column, column}, new Shape(b, 1));
          float[] fast =
              decoder
                  .logits(ps, step.create(next, new Shape(b)), table.gather(positions), mask, cache)
                  .toFloatArray();
          float[] full = new float[fast.length];
          for (int r = 0; r < b; r++) {
            long[] sequence = sequences[r];
            NDArray all =
                model.forward(
                    ps, step.create(sequence, new Shape(1, sequence.length)), null, false);
            float[] last = all.get(new NDIndex(0, sequence.length - 1)).toFloatArray();
            System.arraycopy(last, 0, full, r * SHAPE.vocabSize(), last.length);
          }
          KvCacheTest.assertClose(full, fast, 1e-4f, "step " + s);
          next = argmax(fast, b);
          assertEquals(Arrays.toString(argmax(full, b)), Arrays.toString(next), "greedy step " + s);
        }
      }
      assertEquals(width + STEPS, cache.length());
    }
  }

  private static long[] argmax(float[] logits, int rows) {
    int v = logits.length / rows;
    long[] best = new long[rows];
    for (int r = 0; r < rows; r++) {
      for (int i = 1; i < v; i++) {
        if (logits[r * v + i] > logits[r * v + (int) best[r]]) {
          best[r] = i;
        }
      }
    }
    return best;
  }
}
