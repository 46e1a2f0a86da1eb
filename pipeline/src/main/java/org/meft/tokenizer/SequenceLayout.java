package org.meft.tokenizer;

import java.util.Arrays;
import org.meft.model.LlamaConfig;

/**
 * How a prompt and a target become one token sequence: the rule that preparation ({@code
 * TokenSequence}), training ({@code TrainingExample}, {@code PreparedRecord}) and evaluation
 * ({@code Generator}, {@code PredictTask}) all apply, so that one record gives the same ids on
 * every path. The prompt and the target are encoded separately, without special tokens ({@link
 * TextTokenizer#encode}), so the boundary between them is exact whatever the tokenizer merges.
 *
 * <p><b>Training sequence</b> ({@link #pack}): {@code [BOS] prompt target [EOS]}.
 *
 * <ul>
 *   <li>BOS comes first only when there is a BOS id, EOS last only when there is an EOS id ({@link
 *       #NONE} otherwise). Nothing stands in for a missing one: a sequence without an EOS id ends
 *       with its last target token.
 *   <li>The loss mask is true on the target and on EOS (so that the model learns to stop), false on
 *       BOS and the prompt.
 *   <li>When the whole is longer than {@code maxLength}, tokens are dropped from the front of the
 *       prompt (after BOS, which stays): the end of a prompt (the question, the cue {@code
 *       Answer:}) matters most to the answer. Target tokens are never dropped.
 *   <li>When BOS, the target and EOS alone are longer than {@code maxLength}, the sequence does not
 *       {@link Packed#fits fit}: it has no ids, and its length is the one it would need. Each
 *       caller decides what that means for a record and names it: preparation rejects it ({@code
 *       target_too_long}), a JSONL file is an error naming the line, a sweep leaves the example out
 *       and counts it. A truncated target would teach a wrong answer.
 * </ul>
 *
 * <p><b>Evaluation prompt</b> ({@link #prompt}): {@code [BOS] prompt}, the same prefix a training
 * sequence has, front-truncated in the same way to {@code maxLength}; for generation that is {@link
 * #promptBudget} tokens, so that the prompt and the new tokens fit the model's context.
 *
 * <p>A model's layout is {@link #of(LlamaConfig)}: its BOS id and its first EOS id (generation
 * stops at any of them). Preparation knows only the tokenizer, and names its special tokens.
 *
 * @param bosId the id placed first, or {@link #NONE}
 * @param eosId the id placed after the target and trained, or {@link #NONE}
 */
public record SequenceLayout(int bosId, int eosId) {
  /** No such token. */
  public static final int NONE = -1;

  public SequenceLayout {
    if (bosId < NONE || eosId < NONE) {
      throw new IllegalArgumentException(
          "token ids must be >= 0, or -1 for none; got BOS " + bosId + ", EOS " + eosId);
    }
  }

  /** The layout of {@code config}'s model: its BOS id, its first EOS id (none when it has none). */
  public static SequenceLayout of(LlamaConfig config) {
    return new SequenceLayout(
        config.bosId(), config.eosIds().isEmpty() ? NONE : config.eosIds().get(0));
  }

  public boolean hasBos() {
    return bosId != NONE;
  }

  public boolean hasEos() {
    return eosId != NONE;
  }

  /**
   * A packed training sequence.
   *
   * @param ids the token ids; null when it does not fit
   * @param lossMask true at target and EOS positions; null when it does not fit
   * @param length the sequence length; when it does not fit, the length of BOS, the target and EOS,
   *     the least it would need
   * @param truncated whether prompt tokens were dropped
   */
  public record Packed(long[] ids, boolean[] lossMask, int length, boolean truncated) {
    /** Whether the sequence fits the maximum length (it has ids). */
    public boolean fits() {
      return ids != null;
    }

    /** How many positions the loss covers (target and EOS). */
    public int trainedTokens() {
      int count = 0;
      if (lossMask != null) {
        for (boolean trained : lossMask) {
          count += trained ? 1 : 0;
        }
      }
      return count;
    }
  }

  /**
   * A training sequence split back into the texts' ids, special tokens left out: {@link #pack}'s
   * inverse.
   *
   * @param prompt the prompt ids (as kept when the sequence was packed)
   * @param target the target ids
   */
  public record Parts(long[] prompt, long[] target) {}

  /** {@code [BOS] prompt target [EOS]} within {@code maxLength}, by the rule above. */
  public Packed pack(long[] prompt, long[] target, int maxLength) {
    int head = hasBos() ? 1 : 0;
    int tail = hasEos() ? 1 : 0;
    int fixed = head + target.length + tail;
    if (fixed > maxLength) {
      return new Packed(null, null, fixed, false);
    }
    int keptPrompt = Math.min(prompt.length, maxLength - fixed);
    int length = fixed + keptPrompt;
    long[] ids = new long[length];
    boolean[] mask = new boolean[length];
    int at = 0;
    if (hasBos()) {
      ids[at++] = bosId;
    }
    System.arraycopy(prompt, prompt.length - keptPrompt, ids, at, keptPrompt);
    at += keptPrompt;
    System.arraycopy(target, 0, ids, at, target.length);
    Arrays.fill(mask, at, length, true);
    if (hasEos()) {
      ids[length - 1] = eosId;
    }
    return new Packed(ids, mask, length, keptPrompt < prompt.length);
  }

  /**
   * The prompt and the target of a sequence that {@link #pack} made with this layout: the untrained
   * head after BOS, and the trained tail before EOS.
   *
   * @throws IllegalArgumentException when the sequence does not have this layout: no BOS first, no
   *     EOS last, or a trained position before an untrained one
   */
  public Parts unpack(long[] ids, boolean[] lossMask) {
    if (ids.length != lossMask.length) {
      throw new IllegalArgumentException(
          ids.length + " ids but " + lossMask.length + " loss-mask positions");
    }
    int promptEnd = 0;
    while (promptEnd < ids.length && !lossMask[promptEnd]) {
      promptEnd++;
    }
    for (int i = promptEnd; i < ids.length; i++) {
      if (!lossMask[i]) {
        throw new IllegalArgumentException(
            "an untrained token at " + i + " after the target began at " + promptEnd);
      }
    }
    int head = 0;
    if (hasBos()) {
      if (promptEnd == 0 || ids[0] != bosId) {
        throw new IllegalArgumentException(
            "the sequence does not begin with BOS "
                + bosId
                + (ids.length == 0 ? "" : " (it begins with " + ids[0] + ")"));
      }
      head = 1;
    }
    int end = ids.length;
    if (hasEos()) {
      if (promptEnd == ids.length || ids[ids.length - 1] != eosId) {
        throw new IllegalArgumentException(
            "the sequence does not end with a trained EOS "
                + eosId
                + (ids.length == 0 ? "" : " (it ends with " + ids[ids.length - 1] + ")"));
      }
      end--;
    }
    return new Parts(
        Arrays.copyOfRange(ids, head, promptEnd), Arrays.copyOfRange(ids, promptEnd, end));
  }

  /**
   * The evaluation prompt {@code [BOS] prompt} in at most {@code maxLength} tokens: prompt tokens
   * are dropped from the front, as in {@link #pack}. BOS always stays (a {@code maxLength} under 1
   * counts as 1).
   */
  public long[] prompt(long[] prompt, int maxLength) {
    int head = hasBos() ? 1 : 0;
    int keptPrompt = Math.max(0, Math.min(prompt.length, Math.max(1, maxLength) - head));
    long[] ids = new long[head + keptPrompt];
    if (hasBos()) {
      ids[0] = bosId;
    }
    System.arraycopy(prompt, prompt.length - keptPrompt, ids, head, keptPrompt);
    return ids;
  }

  /**
   * The most prompt tokens (BOS included) that leave room for {@code maxNewTokens} in a model of
   * {@code contextLength} positions; at least 1, so that a prompt keeps its BOS (or last token) and
   * generation stops at the model's length instead.
   */
  public static int promptBudget(int contextLength, int maxNewTokens) {
    return Math.max(1, contextLength - Math.max(0, maxNewTokens));
  }
}
