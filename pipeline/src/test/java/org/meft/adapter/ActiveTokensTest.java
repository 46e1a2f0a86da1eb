package org.meft.adapter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.util.Arrays;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.meft.adapter.meft.KeySource;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.meft.TrainRows;
import org.meft.adapter.parallel.ParallelAdapters;
import org.meft.adapter.parallel.ParallelConfig;
import org.meft.load.RandomLlama;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.store.StoreDtype;
import org.meft.store.StoreMoments;
import org.meft.store.StoreRate;
import org.meft.testing.Overwrite;

/**
 * Skipping padding positions in the adapters leaves every real token's logits unchanged: padding
 * sits after the real tokens of its row, and attention is causal.
 */
class ActiveTokensTest {
  private static final LlamaConfig SHAPE = LlamaConfig.of(32, 64, 2, 4, 2, 64, 32);
  private static final int N = 40;
  private static final int LENGTH = 6;
  private static final int[] REAL = {6, 3}; // real tokens per row; row 1 is padded after 3

  @Test
  void parallelAdapterIgnoresPaddingOnlyAtPadding() {
    check(new ParallelConfig(N, 0.5f, LayerSelection.ALL));
  }

  @Test
  void meftAdapterIgnoresPaddingOnlyAtPadding() {
    check(
        new MeftConfig(
            N,
            6,
            5,
            2,
            N,
            0.5f,
            KeySource.RANDOM,
            StoreRate.RUN,
            TrainRows.ALL,
            StoreDtype.F32,
            StoreMoments.F32,
            LayerSelection.ALL));
  }

  private static void check(AdapterConfig config) {
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(SHAPE, 3, manager, DataType.FLOAT32);
      try (InstalledAdapters adapters =
          InstalledAdapters.install(model, config, manager, allocator, 11)) {
        setValues(adapters, model);
        float[] everyToken = logits(model, adapters, manager, false);
        float[] realOnly = logits(model, adapters, manager, true);
        int vocab = SHAPE.vocabSize();
        for (int row = 0; row < REAL.length; row++) {
          for (int t = 0; t < LENGTH; t++) {
            int from = (row * LENGTH + t) * vocab;
            float[] a = Arrays.copyOfRange(everyToken, from, from + vocab);
            float[] b = Arrays.copyOfRange(realOnly, from, from + vocab);
            if (t < REAL[row]) {
              assertArrayEquals(a, b, 1e-5f, "row " + row + " position " + t);
            } else {
              assertNotEquals(a[0], b[0], "padding position " + t + " had its adapter skipped");
            }
          }
        }
      }
    }
  }

  private static void setValues(InstalledAdapters adapters, Llama model) {
    java.util.Random random = new java.util.Random(2);
    for (int layer = 0; layer < SHAPE.nLayers(); layer++) {
      float[] values = new float[N * SHAPE.dim()];
      for (int i = 0; i < values.length; i++) {
        values[i] = (float) random.nextGaussian();
      }
      if (adapters.store() != null) {
        for (int row = 0; row < N; row++) {
          adapters
              .store()
              .setValueRow(
                  layer,
                  row,
                  Arrays.copyOfRange(values, row * SHAPE.dim(), (row + 1) * SHAPE.dim()));
        }
      } else {
        Overwrite.floats(
            adapters.adapters(ParallelAdapters.class).adapter(layer).values().getArray(), values);
      }
    }
  }

  private static float[] logits(
      Llama model, InstalledAdapters adapters, NDManager manager, boolean skipPadding) {
    try (NDManager step = manager.newSubManager()) {
      long[] tokens = new long[REAL.length * LENGTH];
      boolean[] real = new boolean[tokens.length];
      for (int i = 0; i < tokens.length; i++) {
        tokens[i] = 3 + (i * 7) % 50;
        real[i] = i % LENGTH < REAL[i / LENGTH];
      }
      long[][] active = ActiveTokens.indices(real);
      assertEquals(
          List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L), Arrays.stream(active[0]).boxed().toList());
      if (skipPadding) {
        adapters.activeTokens().set(step.create(active[0]), step.create(active[1]), tokens.length);
      }
      try {
        NDArray input = step.create(tokens, new Shape(REAL.length, LENGTH));
        return model.forward(new ParameterStore(step, false), input, null, false).toFloatArray();
      } finally {
        adapters.activeTokens().clear();
      }
    }
  }
}
