package org.meft.forgetting;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import org.meft.model.Llama;
import org.meft.settings.Range;
import org.meft.settings.Setting;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What fine-tuning costs the base model where it should change nothing: on the base's own greedy
 * continuations of story prompts ({@link ForgettingReference}), how far the fine-tuned model's
 * next-token distributions moved and how much of the base's greedy text it no longer writes.
 *
 * @param meanKl the mean over every continuation position (of every prompt) of KL(p_base ||
 *     p_tuned) = sum_v p_base(v) (log p_base(v) - log p_tuned(v)), in nats, both distributions
 *     teacher-forced on the same prompt and base continuation (float32 log-softmax)
 * @param changedShare the share of the base's greedy continuation tokens that the fine-tuned model,
 *     decoding greedily from the same prompt, does not reproduce: over all prompts, the tokens
 *     after the longest common prefix of the two continuations, over the base continuations' tokens
 * @param positions the continuation positions both are averaged over; NaN values when 0
 */
public record Forgetting(double meanKl, double changedShare, int positions) {
  /** The story prompts measured unless told otherwise: all of them. */
  public static final int DEFAULT_PROMPTS = StoryPrompts.all().size();

  /** How many {@link StoryPrompts} {@code bin/meft evaluate} measures forgetting on. */
  public static final Setting PROMPTS =
      Setting.integer(
          "forgetting-prompts",
          DEFAULT_PROMPTS,
          Range.closed(0, StoryPrompts.all().size()),
          "story prompts the base continues to measure forgetting (0: not measured)");

  private static final Logger LOG = LoggerFactory.getLogger(Forgetting.class);

  /**
   * The forgetting of {@code tuned} (the reference's base model with a run's adapter installed)
   * against {@code reference}; arrays live in a sub-manager of {@code manager} while this runs.
   */
  public static Forgetting measure(ForgettingReference reference, Llama tuned, NDManager manager) {
    long start = System.nanoTime();
    long[][] greedy =
        ForgettingReference.greedyContinuations(
            tuned, manager, reference.prompts(), reference.continuationTokens());
    double changed = changedShare(reference.continuations(), greedy);
    int positions = reference.positions();
    double kl = Double.NaN;
    if (positions > 0) {
      try (NDManager scope = manager.newSubManager()) {
        NDArray tunedLogProbs =
            ContinuationLogProbs.of(tuned, scope, reference.prompts(), reference.continuations());
        NDArray baseLogProbs =
            scope.create(reference.logProbs(), new Shape(positions, reference.vocab()));
        float[] perPosition =
            baseLogProbs
                .exp()
                .mul(baseLogProbs.sub(tunedLogProbs))
                .sum(new int[] {1})
                .toFloatArray();
        double sum = 0;
        for (float value : perPosition) {
          sum += value;
        }
        // KL is never negative; float32 rounding of two nearly equal distributions can be.
        kl = Math.max(0, sum / positions);
      }
    }
    Forgetting forgetting = new Forgetting(kl, changed, positions);
    LOG.info(
        "forgetting over {} prompts, {} positions: KL {}, changed {}, in {} s",
        reference.prompts().length,
        positions,
        kl,
        changed,
        String.format("%.3f", (System.nanoTime() - start) / 1e9));
    return forgetting;
  }

  /**
   * Over all prompts, the base continuation tokens after the common prefix of {@code base[i]} and
   * {@code tuned[i]}, over all base continuation tokens; NaN when the base continued no prompt.
   *
   * <p>A common prefix rather than a position-by-position comparison: greedy decoding conditions
   * each token on the ones before, so after the first token that differs the two texts continue
   * different prefixes, and a later position where they agree is a coincidence of two unaligned
   * texts, not a piece of the base's text the tuned model kept. A tuned model that continues past
   * where the base stopped reproduces the base's whole text (its stop token is not counted).
   */
  static double changedShare(long[][] base, long[][] tuned) {
    long total = 0;
    long changed = 0;
    for (int i = 0; i < base.length; i++) {
      int mismatch = Arrays.mismatch(base[i], tuned[i]);
      int prefix = mismatch < 0 ? base[i].length : Math.min(mismatch, base[i].length);
      changed += base[i].length - prefix;
      total += base[i].length;
    }
    return total == 0 ? Double.NaN : (double) changed / total;
  }
}
