package org.meft.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.meft.bench.LoopDecoder;
import org.meft.generate.Generator;
import org.meft.generate.Sampler;
import org.meft.load.RandomLlama;

/**
 * A prefill without gradient computes its attention in chunks once the scores would pass {@link
 * Attention#SCORE_CHUNK_BYTES}; with 16 heads and 1,024 positions a sequence's scores are 64 MiB a
 * layer, so two sequences take four chunks (one sequence and half its query rows each). The logits
 * at every position equal the plain-loop decoder's (an implementation that decodes one token at a
 * time), and a left-padded batch of long prompts (its mask sliced per chunk) decodes the loops'
 * tokens.
 */
class ChunkedAttentionTest {
  private static final LlamaConfig SHAPE = LlamaConfig.of(64, 96, 2, 16, 4, 96, 1100);
  private static final int T = 1024;

  @Test
  void chunkedPrefillEqualsTokenByTokenLoops() {
    assertTrue(16L * T * T * Float.BYTES > Attention.SCORE_CHUNK_BYTES, "the test must chunk");
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama model = RandomLlama.create(SHAPE, 7, manager, DataType.FLOAT32);
      long[][] sequences = {tokens(1, T), tokens(2, T)};
      float[] logits;
      try (NDManager pass = manager.newSubManager()) {
        long[] flat = new long[2 * T];
        System.arraycopy(sequences[0], 0, flat, 0, T);
        System.arraycopy(sequences[1], 0, flat, T, T);
        NDArray all =
            model.forward(
                new ParameterStore(pass, false), pass.create(flat, new Shape(2, T)), null, false);
        logits = all.toFloatArray(); // [2, T, V]
      }
      int v = SHAPE.vocabSize();
      for (int s = 0; s < 2; s++) {
        LoopDecoder loops = new LoopDecoder(model);
        for (int pos = 0; pos < T; pos++) {
          float[] expected = loops.forward((int) sequences[s][pos], pos);
          int at = (s * T + pos) * v;
          for (int i = 0; i < v; i++) {
            assertEquals(expected[i], logits[at + i], 1e-4f, "sequence " + s + ", position " + pos);
          }
        }
      }
    }
  }

  @Test
  void leftPaddedLongPromptsDecodeTheLoopsTokens() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama model = RandomLlama.create(SHAPE, 8, manager, DataType.FLOAT32);
      sharpen(model);
      List<long[]> prompts = List.of(tokens(3, T), tokens(4, T - 300), tokens(5, 40));
      List<Generator.Generation> engine =
          Generator.generateBatch(
              model,
              manager,
              prompts,
              6,
              new ArrayList<>(Collections.nCopies(prompts.size(), Sampler.greedy())));
      LoopDecoder loops = new LoopDecoder(model);
      for (int i = 0; i < prompts.size(); i++) {
        assertArrayEquals(loops.greedy(prompts.get(i), 6), engine.get(i).newIds(), "prompt " + i);
      }
    }
  }

  /**
   * Scales the weights so that attention is far from uniform and the tokens depend on which keys
   * each query sees (at the random init's scale a wrong mask hardly moves the argmax).
   */
  private static void sharpen(Llama model) {
    for (Llama.Weight weight : model.weights()) {
      if (weight.name().contains("self_attn") || weight.name().contains("mlp")) {
        weight.parameter().getArray().muli(8);
      }
    }
  }

  /** BOS and n - 1 random ids above the special ones. */
  private static long[] tokens(long seed, int n) {
    Random random = new Random(seed);
    long[] ids = new long[n];
    ids[0] = SHAPE.bosId();
    for (int i = 1; i < n; i++) {
      ids[i] = 3 + random.nextInt(SHAPE.vocabSize() - 3);
    }
    return ids;
  }
}
