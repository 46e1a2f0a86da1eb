package org.meft.datasets.prepare;

/**
 * One training sequence: {@code [BOS] prompt target [EOS]} as token ids, with the loss mask that
 * selects the target (and EOS, so the model learns to stop), within a maximum length.
 *
 * <p>When the whole does not fit, tokens are dropped from the start of the prompt (after BOS),
 * never from the target: the end of a prompt (the question, the cue {@code Answer:}) matters most
 * to the answer. When the target with BOS and EOS alone is longer than the maximum, the sequence
 * does not {@link #fits fit} and has no ids.
 *
 * @param ids the token ids, {@code length} of them; null when it does not fit
 * @param lossMask 1 at target and EOS positions, 0 at BOS and prompt positions; null when it does
 *     not fit
 * @param length the sequence length; when it does not fit, the length of the target with BOS and
 *     EOS, the least it would need
 * @param truncated whether prompt tokens were dropped
 */
public record TokenSequence(int[] ids, byte[] lossMask, int length, boolean truncated) {

  /** Whether the sequence fits the maximum length (it has ids). */
  public boolean fits() {
    return ids != null;
  }

  /**
   * Packs a prompt and a target encoded separately (so the mask boundary is exact whatever the
   * tokenizer merges), with {@code bos} and {@code eos} ids (-1: none), into {@code maxLength}.
   */
  public static TokenSequence of(long[] prompt, long[] target, int bos, int eos, int maxLength) {
    int head = bos >= 0 ? 1 : 0;
    int tail = eos >= 0 ? 1 : 0;
    int fixed = head + target.length + tail;
    if (fixed > maxLength) {
      return new TokenSequence(null, null, fixed, false);
    }
    int keptPrompt = Math.min(prompt.length, maxLength - fixed);
    int length = fixed + keptPrompt;
    int[] ids = new int[length];
    byte[] mask = new byte[length];
    int at = 0;
    if (head == 1) {
      ids[at++] = bos;
    }
    for (int i = prompt.length - keptPrompt; i < prompt.length; i++) {
      ids[at++] = (int) prompt[i];
    }
    for (long id : target) {
      mask[at] = 1;
      ids[at++] = (int) id;
    }
    if (tail == 1) {
      mask[at] = 1;
      ids[at] = eos;
    }
    return new TokenSequence(ids, mask, length, keptPrompt < prompt.length);
  }
}
