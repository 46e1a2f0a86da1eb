package org.meft.datasets.prepare;

import org.meft.tokenizer.SequenceLayout;

/**
 * One training sequence as a prepared shard stores it: {@link SequenceLayout#pack}'s {@code [BOS]
 * prompt target [EOS]}, with the loss mask that selects the target (and EOS, so the model learns to
 * stop), within a maximum length, as Spark's {@code array<int>} and {@code array<tinyint>}.
 *
 * <p>The rule (front truncation of the prompt, never of the target; BOS and EOS only when given) is
 * {@link SequenceLayout}'s, the one training and evaluation apply: when the target with BOS and EOS
 * alone is longer than the maximum, the sequence does not {@link #fits fit} and has no ids.
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
    return of(new SequenceLayout(bos, eos).pack(prompt, target, maxLength));
  }

  /** The shard's form of a packed sequence. */
  public static TokenSequence of(SequenceLayout.Packed packed) {
    if (!packed.fits()) {
      return new TokenSequence(null, null, packed.length(), false);
    }
    int[] ids = new int[packed.length()];
    byte[] mask = new byte[packed.length()];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = Math.toIntExact(packed.ids()[i]);
      mask[i] = (byte) (packed.lossMask()[i] ? 1 : 0);
    }
    return new TokenSequence(ids, mask, packed.length(), packed.truncated());
  }
}
