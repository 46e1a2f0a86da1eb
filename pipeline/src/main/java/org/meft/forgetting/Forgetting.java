package org.meft.forgetting;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
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
 *     decoding greedily from the same prompt, does not reproduce: over all prompts, the base's
 *     tokens from the first position where the tuned model's greedy choice differs from the base's
 *     ({@link #changedShare}), over all the base's continuation tokens
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
   * against {@code reference}: one teacher-forced pass of {@code tuned} over the prompts and the
   * base's continuations gives both numbers. Arrays live in a sub-manager of {@code manager} while
   * this runs.
   */
  public static Forgetting measure(ForgettingReference reference, Llama tuned, NDManager manager) {
    long start = System.nanoTime();
    int positions = reference.positions();
    double kl = Double.NaN;
    double changed = Double.NaN;
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
        changed =
            changedShare(reference.continuations(), choices(baseLogProbs), choices(tunedLogProbs));
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

  /** The greedy choice (argmax) at each position of log-probabilities [M, V]. */
  private static long[] choices(NDArray logProbs) {
    return logProbs.argMax(1).toType(DataType.INT64, false).toLongArray();
  }

  /**
   * Over all prompts, the base continuation tokens from the first position where the tuned model's
   * greedy choice differs from the base's, over all base continuation tokens; NaN when the base
   * continued no prompt. {@code baseChoices} and {@code tunedChoices} are each model's argmax at
   * every continuation position (teacher-forced on the base's text), prompt after prompt.
   *
   * <p>This is what greedy decoding with the tuned model would change of the base's text: as long
   * as the tuned model's choices agree with the base's, its greedy text is the base's text, so the
   * teacher-forced pass reads exactly its prefix; at the first position where they differ (a stop
   * token included) the texts part. One pass instead of G decoding steps, and exact for the base
   * itself, whose choices are compared with themselves (its decoded continuation might differ from
   * its teacher-forced choices where two tokens tie to rounding). A common prefix rather than a
   * position-by-position comparison: after the first token that differs, the two greedy texts
   * continue different prefixes, and a later position where they agree would be a coincidence of
   * unaligned texts, not base text the run kept.
   */
  static double changedShare(long[][] continuations, long[] baseChoices, long[] tunedChoices) {
    long total = 0;
    long changed = 0;
    int offset = 0;
    for (long[] continuation : continuations) {
      int length = continuation.length;
      int mismatch =
          Arrays.mismatch(
              baseChoices, offset, offset + length, tunedChoices, offset, offset + length);
      changed += mismatch < 0 ? 0 : length - mismatch;
      total += length;
      offset += length;
    }
    return total == 0 ? Double.NaN : (double) changed / total;
  }
}
