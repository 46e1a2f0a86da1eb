package org.meft.forgetting;

import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.meft.generate.Generator;
import org.meft.generate.Sampler;
import org.meft.load.LanguageModel;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.stop.NativeGate;
import org.meft.tokenizer.SequenceLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What {@link Forgetting#measure} compares a fine-tuned model with, computed once from the base
 * model alone: the prompts' ids, the base's greedy continuation of each, and the base's next-token
 * log-probabilities along those continuations ({@link ContinuationLogProbs}).
 *
 * @param prompts each prompt's ids, BOS first
 * @param continuations the base's greedy continuation of each prompt: G tokens, fewer where the
 *     base emitted a stop token (EOS or BOS, not included) or reached the model's length
 * @param logProbs the base's float32 log-softmax at every continuation position, [positions, vocab]
 *     row-major, prompt after prompt
 * @param vocab the model's vocabulary size
 */
public record ForgettingReference(
    long[][] prompts, long[][] continuations, float[] logProbs, int vocab) {
  /** G: the base's continuation of each prompt, at most (and half the model's positions). */
  public static final int CONTINUATION_TOKENS = 64;

  private static final Logger LOG = LoggerFactory.getLogger(ForgettingReference.class);

  public ForgettingReference {
    if (prompts.length != continuations.length) {
      throw new IllegalArgumentException(
          prompts.length + " prompts but " + continuations.length + " continuations");
    }
    int positions = 0;
    for (long[] continuation : continuations) {
      positions += continuation.length;
    }
    if (logProbs.length != (long) positions * vocab) {
      throw new IllegalArgumentException(
          logProbs.length + " log-probabilities for " + positions + " positions of " + vocab);
    }
  }

  /**
   * The reference of the first {@code count} {@link StoryPrompts} for {@code base}, which must hold
   * no adapter: each prompt as the evaluation encodes one (BOS and its tokens, cut from the front
   * to leave room for G), continued for {@link #continuationTokens(LlamaConfig)} tokens.
   */
  public static ForgettingReference of(LanguageModel base, int count) {
    int tokens = continuationTokens(base.config());
    SequenceLayout layout = SequenceLayout.of(base.config());
    int budget = SequenceLayout.promptBudget(base.config().maxSeqLen(), tokens);
    List<long[]> prompts = new ArrayList<>(count);
    for (String prompt : StoryPrompts.first(count)) {
      prompts.add(layout.prompt(base.tokenizer().encode(prompt), budget));
    }
    try (NativeGate.Section section = NativeGate.enter()) {
      return of(base.llama(), base.manager(), prompts, tokens);
    }
  }

  /**
   * The reference of {@code prompts} (ids, BOS first) for {@code base} as it is now: its greedy
   * continuations of at most {@code continuationTokens} tokens and its log-probabilities along
   * them. Arrays live in a sub-manager of {@code manager} while this runs.
   */
  public static ForgettingReference of(
      Llama base, NDManager manager, List<long[]> prompts, int continuationTokens) {
    long start = System.nanoTime();
    long[][] promptIds = prompts.toArray(long[][]::new);
    long[][] continuations = greedyContinuations(base, manager, promptIds, continuationTokens);
    try (NDManager scope = manager.newSubManager()) {
      float[] logProbs =
          ContinuationLogProbs.of(base, scope, promptIds, continuations).toFloatArray();
      ForgettingReference reference =
          new ForgettingReference(promptIds, continuations, logProbs, base.config().vocabSize());
      LOG.info(
          "forgetting reference: {} prompts, {} positions, in {} s",
          promptIds.length,
          reference.positions(),
          String.format("%.3f", (System.nanoTime() - start) / 1e9));
      return reference;
    }
  }

  /** G for {@code config}: {@link #CONTINUATION_TOKENS}, or half the model's positions if fewer. */
  public static int continuationTokens(LlamaConfig config) {
    return Math.min(CONTINUATION_TOKENS, config.maxSeqLen() / 2);
  }

  /** Each prompt's greedy continuation by {@code model}, at most {@code tokens} tokens. */
  private static long[][] greedyContinuations(
      Llama model, NDManager manager, long[][] prompts, int tokens) {
    List<Generator.Generation> generations =
        Generator.generateBatch(
            model,
            manager,
            List.of(prompts),
            tokens,
            Collections.nCopies(prompts.length, Sampler.greedy()));
    return generations.stream().map(Generator.Generation::newIds).toArray(long[][]::new);
  }

  /** The continuation positions, over every prompt. */
  public int positions() {
    return logProbs.length / vocab;
  }
}
