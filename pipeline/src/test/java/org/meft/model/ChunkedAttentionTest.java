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
 * Attention#SCORE_CHUNK_BYTES}. Every way of cutting gives the unchunked product; and at the real
 * budget (16 heads and 1,024 positions: 64 MiB of scores a sequence and layer, so two sequences
 * take four chunks) the logits at every position equal the plain-loop decoder's (an implementation
 * that decodes one token at a time), and a left-padded batch of long prompts (its mask sliced per
 * chunk) decodes the loops' tokens.
 */
class ChunkedAttentionTest {
  private static final LlamaConfig SHAPE = LlamaConfig.of(64, 96, 2, 16, 4, 96, 1100);
  private static final int T = 1024;

  /**
   * The chunking itself, through every way of cutting: the whole pass, two sequences and one, two
   * query rows and one (the cut a very long context takes), with the causal mask of a pass that
   * follows cached columns and with an explicit mask that hides each sequence's own pad columns:
   * every cut gives the unchunked product.
   */
  @Test
  void everyCutEqualsTheWholeProduct() {
    LlamaConfig shape = LlamaConfig.of(32, 64, 1, 4, 2, 64, 64); // G = 2 queries per key head
    int b = 3;
    int t = 5;
    int start = 4; // four cached columns before this pass
    int tAll = start + t;
    long perQuery = 4L * tAll * Float.BYTES;
    long[] budgets = {1L << 40, 2 * t * perQuery, t * perQuery, 2 * perQuery, perQuery, 1};
    try (NDManager manager = NDManager.newBaseManager()) {
      Attention attention =
          RandomLlama.create(shape, 9, manager, DataType.FLOAT32).layers().get(0).attention();
      Random random = new Random(13);
      NDArray q = gaussian(manager, random, new Shape(b, 2, 2, t, 8));
      NDArray keysT = gaussian(manager, random, new Shape(b, 2, 1, 8, tAll));
      NDArray values = gaussian(manager, random, new Shape(b, 2, 1, tAll, 8));
      float[] padded =
          new float[b * t * tAll]; // sequence s hides its first s columns and later ones
      for (int s = 0; s < b; s++) {
        for (int i = 0; i < t; i++) {
          for (int j = 0; j < tAll; j++) {
            boolean hidden = j < s || j > start + i;
            padded[(s * t + i) * tAll + j] = hidden ? Float.NEGATIVE_INFINITY : 0f;
          }
        }
      }
      NDArray[] masks = {null, manager.create(padded, new Shape(b, 1, 1, t, tAll))};
      for (NDArray mask : masks) {
        float[] whole = attention.attend(q, keysT, values, mask, start, false).toFloatArray();
        for (long budget : budgets) {
          float[] cut =
              attention.attendInChunks(q, keysT, values, mask, start, budget).toFloatArray();
          assertArrayEquals(
              whole, cut, 1e-6f, (mask == null ? "causal" : "padded") + ", budget " + budget);
        }
      }
    }
  }

  private static NDArray gaussian(NDManager manager, Random random, Shape shape) {
    float[] values = new float[Math.toIntExact(shape.size())];
    for (int i = 0; i < values.length; i++) {
      values[i] = (float) random.nextGaussian();
    }
    return manager.create(values, shape);
  }

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
