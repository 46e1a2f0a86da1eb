package org.meft.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.meft.load.RandomLlama;

/**
 * The one-token inference pass ({@link TokenDecoder}: in-place norms and rotations, fused residual
 * sums, attention over the whole cache buffer under a mask) gives the logits of recomputing each
 * whole sequence with the ordinary forward pass, for two sequences decoded together.
 */
class TokenDecoderTest {
  private static final LlamaConfig SHAPE = LlamaConfig.of(32, 64, 3, 4, 2, 64, 64);
  private static final int STEPS = 12;

  @Test
  void oneTokenPassesEqualFullRecomputation() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama model = RandomLlama.create(SHAPE, 23, manager, DataType.FLOAT32);
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
                    .logits(
                        ps, step.create(next, new Shape(b)), table.gather(positions), mask, cache)
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
            assertEquals(
                Arrays.toString(argmax(full, b)), Arrays.toString(next), "greedy step " + s);
          }
        }
        assertEquals(width + STEPS, cache.length());
      }
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
