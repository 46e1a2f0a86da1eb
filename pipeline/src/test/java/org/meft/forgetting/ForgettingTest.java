package org.meft.forgetting;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.InstalledAdapters;
import org.meft.adapter.LayerSelection;
import org.meft.adapter.lora.LoraConfig;
import org.meft.adapter.parallel.ParallelConfig;
import org.meft.load.LanguageModel;
import org.meft.load.RandomLlama;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.testing.AdapterValues;
import org.meft.testing.Shared;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The forgetting measurement against a dense reference computed here in double precision, one
 * sequence at a time: KL(p_base || p_tuned) of the distributions that predict each continuation
 * token from the tokens before it, and the share of the base's greedy text a tuned model changes.
 */
class ForgettingTest {
  private static final Logger LOG = LoggerFactory.getLogger(ForgettingTest.class);
  // An untied head, scaled below, so that the random model's next-token distributions are peaked
  // (N(0, 0.02) weights give nearly uniform ones, whose KLs are all tiny).
  private static final LlamaConfig SHAPE =
      LlamaConfig.of(32, 64, 2, 4, 2, 64, 64).withTiedEmbeddings(false);
  private static final float HEAD_SCALE = 40f;
  private static final int PROMPTS = 6;
  private static final int CONTINUATION = 12;
  private static final LoraConfig LORA =
      new LoraConfig(2, 4f, 0f, Set.of("q", "v", "up", "down"), LayerSelection.ALL);
  private static final float LORA_STD = 0.1f;
  private static final double TOLERANCE = 1e-5;

  @Test
  void klAndChangedShareMatchADenseReferenceWithLoraInstalled() {
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = peakedModel(manager);
      ForgettingReference reference =
          ForgettingReference.of(model, manager, prompts(), CONTINUATION);
      assertTrue(reference.positions() > PROMPTS, "the base continued too little");
      double[][] baseLogits = denseLogits(model, manager, reference);
      // The column before each continuation token predicts it: the base's choices there are its
      // greedy continuation.
      assertArrayEquals(
          concatenated(reference.continuations()), denseChoices(reference, baseLogits));
      try (InstalledAdapters adapters =
          InstalledAdapters.install(model, LORA, manager, allocator, 5)) {
        AdapterValues.nonZero(adapters, LORA_STD);
        int arrays = manager.getManagedArrays().size();
        Forgetting measured = Forgetting.measure(reference, model, manager);
        assertEquals(arrays, manager.getManagedArrays().size(), "arrays left behind");
        double[][] tunedLogits = denseLogits(model, manager, reference);

        double expected = denseKl(reference, baseLogits, tunedLogits, 1);
        assertEquals(reference.positions(), measured.positions());
        assertEquals(expected, measured.meanKl(), TOLERANCE * Math.max(1, expected));
        // The test tells a wrong direction and a wrong position apart from the right answer.
        double reversed = denseKl(reference, tunedLogits, baseLogits, 1);
        double shifted = denseKl(reference, baseLogits, tunedLogits, 2);
        assertTrue(Math.abs(reversed - expected) > 1000 * TOLERANCE, expected + " vs " + reversed);
        assertTrue(Math.abs(shifted - expected) > 1000 * TOLERANCE, expected + " vs " + shifted);

        double changed =
            Forgetting.changedShare(
                reference.continuations(),
                denseChoices(reference, baseLogits),
                denseChoices(reference, tunedLogits));
        assertEquals(changed, measured.changedShare());
        assertTrue(changed > 0 && changed < 1, "changed " + changed);
        // It is what greedy decoding with the tuned model changes: the base's tokens after the
        // common prefix of the two greedy continuations.
        long[][] tunedGreedy =
            ForgettingReference.of(model, manager, prompts(), CONTINUATION).continuations();
        long prefixes = 0;
        for (int i = 0; i < PROMPTS; i++) {
          long[] base = reference.continuations()[i];
          int mismatch = Arrays.mismatch(base, tunedGreedy[i]);
          prefixes += mismatch < 0 ? base.length : Math.min(mismatch, base.length);
        }
        assertEquals(1 - (double) prefixes / reference.positions(), changed, 1e-12);
      }
    }
  }

  @Test
  void noAdapterAndAdaptersAtInitialisationForgetNothing() {
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = peakedModel(manager);
      ForgettingReference reference =
          ForgettingReference.of(model, manager, prompts(), CONTINUATION);
      assertNothingForgotten(Forgetting.measure(reference, model, manager), "the base itself");
      // LoRA's B and the parallel adapter's values start at zero: the model is the base.
      for (AdapterConfig config :
          List.<AdapterConfig>of(LORA, new ParallelConfig(32, 0.02f, LayerSelection.ALL))) {
        try (InstalledAdapters adapters =
            InstalledAdapters.install(model, config, manager, allocator, 5)) {
          assertNothingForgotten(
              Forgetting.measure(reference, model, manager), config.method().name());
        }
      }
    }
  }

  @Test
  void changedShareCountsTheBaseTokensFromTheFirstDifferentChoice() {
    long[][] continuations = {{5, 6, 7, 8}, {5, 6}, {9, 9, 9}, {}};
    long[] base = {5, 6, 7, 8, 5, 6, 9, 9, 9};
    // 2 of the first prompt's 4 changed (the 8 after the change is a coincidence), none of the
    // second's, all 3 of the third's (its first choice is another token, or a stop token).
    long[] tuned = {5, 6, 1, 8, 5, 6, 2, 9, 9};
    assertEquals(5.0 / 9, Forgetting.changedShare(continuations, base, tuned), 1e-15);
    assertEquals(0.0, Forgetting.changedShare(continuations, base, base));
    assertTrue(Double.isNaN(Forgetting.changedShare(new long[][] {{}}, new long[0], new long[0])));
  }

  @Test
  void storyPromptsAreDistinctOpenings() {
    List<String> all = StoryPrompts.all();
    assertEquals(32, all.size());
    assertEquals(all.size(), Set.copyOf(all).size());
    assertEquals(all.size(), Integer.parseInt(Forgetting.PROMPTS.defaultValue()));
    assertEquals(all.subList(0, 3), StoryPrompts.first(3));
  }

  @Test
  void thirtyTwoStoriesTakeSecondsOnStories260K() {
    Path folder = Shared.require("models/stories260K-hf");
    try (LanguageModel base = LanguageModel.load(folder, null);
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      long start = System.nanoTime();
      ForgettingReference reference = ForgettingReference.of(base, StoryPrompts.all().size());
      double referenceSeconds = (System.nanoTime() - start) / 1e9;
      assertEquals(
          ForgettingReference.CONTINUATION_TOKENS,
          Arrays.stream(reference.continuations()).mapToInt(c -> c.length).max().orElseThrow());
      String first = base.tokenizer().decode(reference.continuations()[0]);
      LOG.info("stories260K continues prompt 0 with: {}", first);
      try (InstalledAdapters adapters =
          InstalledAdapters.install(base.llama(), LORA, base.manager(), allocator, 5)) {
        AdapterValues.nonZero(adapters, 0.05f);
        start = System.nanoTime();
        Forgetting forgetting = Forgetting.measure(reference, base.llama(), base.manager());
        double measureSeconds = (System.nanoTime() - start) / 1e9;
        LOG.info(
            "stories260K, 32 prompts: reference {} s, measure {} s, {}",
            referenceSeconds,
            measureSeconds,
            forgetting);
        assertTrue(forgetting.positions() > 16 * StoryPrompts.all().size(), forgetting.toString());
        assertTrue(forgetting.meanKl() > 0 && Double.isFinite(forgetting.meanKl()));
        assertTrue(forgetting.changedShare() >= 0 && forgetting.changedShare() <= 1);
      }
    }
  }

  private static void assertNothingForgotten(Forgetting forgetting, String what) {
    assertTrue(forgetting.meanKl() >= 0 && forgetting.meanKl() < 1e-6, what + ": " + forgetting);
    assertEquals(0.0, forgetting.changedShare(), what);
  }

  /** A random model whose head is scaled up, so that its distributions are far from uniform. */
  private static Llama peakedModel(NDManager manager) {
    Llama model = RandomLlama.create(SHAPE, 17, manager, DataType.FLOAT32);
    model.headWeight().getArray().muli(HEAD_SCALE);
    return model;
  }

  /** Prompts of 2 to 7 tokens, BOS first. */
  private static List<long[]> prompts() {
    Random random = new Random(23);
    List<long[]> prompts = new ArrayList<>();
    for (int i = 0; i < PROMPTS; i++) {
      long[] prompt = new long[2 + i];
      prompt[0] = SHAPE.bosId();
      for (int j = 1; j < prompt.length; j++) {
        prompt[j] = 3 + random.nextInt(SHAPE.vocabSize() - 3);
      }
      prompts.add(prompt);
    }
    return prompts;
  }

  /** Each prompt + continuation through the model alone, unpadded: logits [T * V] per sequence. */
  private static double[][] denseLogits(
      Llama model, NDManager manager, ForgettingReference reference) {
    double[][] logits = new double[PROMPTS][];
    for (int i = 0; i < PROMPTS; i++) {
      long[] prompt = reference.prompts()[i];
      long[] continuation = reference.continuations()[i];
      long[] sequence = new long[prompt.length + continuation.length];
      System.arraycopy(prompt, 0, sequence, 0, prompt.length);
      System.arraycopy(continuation, 0, sequence, prompt.length, continuation.length);
      try (NDManager scope = manager.newSubManager()) {
        float[] values =
            model
                .forward(
                    new ParameterStore(scope, false),
                    scope.create(sequence, new Shape(1, sequence.length)),
                    null,
                    false)
                .toType(DataType.FLOAT32, false)
                .toFloatArray();
        logits[i] = new double[values.length];
        for (int k = 0; k < values.length; k++) {
          logits[i][k] = values[k];
        }
      }
    }
    return logits;
  }

  /**
   * The mean over continuation positions of KL(p || q), p and q the softmax of {@code pLogits} and
   * {@code qLogits} at the column {@code lag} before each continuation token (1: the right one).
   */
  private static double denseKl(
      ForgettingReference reference, double[][] pLogits, double[][] qLogits, int lag) {
    int vocab = SHAPE.vocabSize();
    double sum = 0;
    int positions = 0;
    for (int i = 0; i < PROMPTS; i++) {
      int first = reference.prompts()[i].length;
      for (int j = 0; j < reference.continuations()[i].length; j++) {
        int column = first + j - lag;
        double[] logP = logSoftmax(pLogits[i], column * vocab, vocab);
        double[] logQ = logSoftmax(qLogits[i], column * vocab, vocab);
        for (int v = 0; v < vocab; v++) {
          sum += Math.exp(logP[v]) * (logP[v] - logQ[v]);
        }
        positions++;
      }
    }
    return sum / positions;
  }

  /** The argmax of each continuation position's logits (the column before its token). */
  private static long[] denseChoices(ForgettingReference reference, double[][] logits) {
    int vocab = SHAPE.vocabSize();
    List<Long> choices = new ArrayList<>();
    for (int i = 0; i < PROMPTS; i++) {
      int first = reference.prompts()[i].length;
      for (int j = 0; j < reference.continuations()[i].length; j++) {
        int offset = (first + j - 1) * vocab;
        int best = 0;
        for (int v = 1; v < vocab; v++) {
          if (logits[i][offset + v] > logits[i][offset + best]) {
            best = v;
          }
        }
        choices.add((long) best);
      }
    }
    return choices.stream().mapToLong(Long::longValue).toArray();
  }

  private static long[] concatenated(long[][] arrays) {
    return Arrays.stream(arrays).flatMapToLong(Arrays::stream).toArray();
  }

  private static double[] logSoftmax(double[] logits, int offset, int vocab) {
    double max = Double.NEGATIVE_INFINITY;
    for (int v = 0; v < vocab; v++) {
      max = Math.max(max, logits[offset + v]);
    }
    double total = 0;
    for (int v = 0; v < vocab; v++) {
      total += Math.exp(logits[offset + v] - max);
    }
    double logTotal = max + Math.log(total);
    double[] out = new double[vocab];
    for (int v = 0; v < vocab; v++) {
      out[v] = logits[offset + v] - logTotal;
    }
    return out;
  }
}
