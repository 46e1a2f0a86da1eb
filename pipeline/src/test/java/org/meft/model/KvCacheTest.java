package org.meft.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.meft.load.RandomLlama;

/** Decoding with the KV cache equals recomputing the whole sequence at every step. */
class KvCacheTest {
  private static final LlamaConfig SHAPE = LlamaConfig.of(32, 64, 3, 4, 2, 64, 64);

  @Test
  void cachedGreedyDecodingEqualsFullRecomputation() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama model = RandomLlama.create(SHAPE, 21, manager, DataType.FLOAT32);
      ParameterStore ps = new ParameterStore(manager, false);
      long[] sequence = {1, 10, 11, 12};
      int prompt = sequence.length;
      try (KvCache cache = new KvCache(manager, SHAPE.nLayers())) {
        long[] feed = sequence;
        for (int step = 0; step < 20; step++) {
          float[] cached;
          float[] full;
          try (NDManager sub = manager.newSubManager()) {
            NDArray logits =
                model.forward(ps, sub.create(feed, new Shape(1, feed.length)), cache, false);
            cached = logits.get(0, feed.length - 1).toFloatArray();
            NDArray all =
                model.forward(ps, sub.create(sequence, new Shape(1, sequence.length)), null, false);
            full = all.get(0, sequence.length - 1).toFloatArray();
          }
          assertClose(full, cached, 1e-4f, "step " + step);
          int next = argmax(cached);
          assertEquals(argmax(full), next, "step " + step);
          sequence = Arrays.copyOf(sequence, sequence.length + 1);
          sequence[sequence.length - 1] = next;
          feed = new long[] {next};
        }
        assertEquals(prompt + 20, sequence.length);
        assertEquals(prompt + 19, cache.length());
      }
    }
  }

  @Test
  void prefillInChunksEqualsOnePass() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama model = RandomLlama.create(SHAPE, 4, manager, DataType.FLOAT32);
      ParameterStore ps = new ParameterStore(manager, false);
      long[] tokens = {1, 5, 9, 13, 17, 21, 25, 29, 33};
      float[] onePass =
          model
              .forward(ps, manager.create(tokens, new Shape(1, tokens.length)), null, false)
              .toFloatArray();
      float[] chunked = new float[onePass.length];
      int[] chunks = {3, 1, 4, 1};
      try (KvCache cache = new KvCache(manager, SHAPE.nLayers())) {
        int start = 0;
        for (int size : chunks) {
          long[] chunk = Arrays.copyOfRange(tokens, start, start + size);
          float[] logits =
              model
                  .forward(ps, manager.create(chunk, new Shape(1, size)), cache, false)
                  .toFloatArray();
          System.arraycopy(logits, 0, chunked, start * SHAPE.vocabSize(), logits.length);
          start += size;
        }
      }
      assertClose(onePass, chunked, 1e-4f, "chunked prefill");
    }
  }

  @Test
  void causalMaskHidesOnlyLaterPositions() {
    try (NDManager manager = NDManager.newBaseManager()) {
      NDArray like = manager.zeros(new Shape(1));
      float[] mask = Attention.causalMask(manager, 2, 2, 4, like.getDataType()).toFloatArray();
      float inf = Float.NEGATIVE_INFINITY;
      // queries at positions 2 and 3 over keys 0..3
      assertArrayEquals(new float[] {0, 0, 0, inf, 0, 0, 0, 0}, mask);
      assertTrue(
          manager.create(mask).get(new NDIndex("0:3")).isInfinite().any().getBoolean() == false);
    }
  }

  private static int argmax(float[] x) {
    int best = 0;
    for (int i = 1; i < x.length; i++) {
      if (x[i] > x[best]) {
        best = i;
      }
    }
    return best;
  }

  static void assertClose(float[] expected, float[] actual, float tolerance, String what) {
    assertEquals(expected.length, actual.length, what);
    float worst = 0;
    for (int i = 0; i < expected.length; i++) {
      worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
    }
    System.out.printf("%s: max abs logit difference %.3g%n", what, worst);
    assertTrue(worst < tolerance, what + ": max abs difference " + worst + " >= " + tolerance);
  }
}
