package org.meft.datasets.prepare;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Packing against sequences written out by hand. */
class TokenSequenceTest {
  private static final long[] PROMPT = {10, 11, 12, 13, 14};
  private static final long[] TARGET = {20, 21};

  @Test
  void packsBosPromptTargetEosWithTheTargetMasked() {
    TokenSequence sequence = TokenSequence.of(PROMPT, TARGET, 1, 2, 16);
    assertArrayEquals(new int[] {1, 10, 11, 12, 13, 14, 20, 21, 2}, sequence.ids());
    assertArrayEquals(new byte[] {0, 0, 0, 0, 0, 0, 1, 1, 1}, sequence.lossMask());
    assertEquals(9, sequence.length());
    assertFalse(sequence.truncated());
  }

  @Test
  void truncatesThePromptFromTheStartNeverTheTarget() {
    TokenSequence sequence = TokenSequence.of(PROMPT, TARGET, 1, 2, 6);
    assertArrayEquals(new int[] {1, 13, 14, 20, 21, 2}, sequence.ids());
    assertArrayEquals(new byte[] {0, 0, 0, 1, 1, 1}, sequence.lossMask());
    assertTrue(sequence.truncated());
    TokenSequence promptGone = TokenSequence.of(PROMPT, TARGET, 1, 2, 4);
    assertArrayEquals(new int[] {1, 20, 21, 2}, promptGone.ids());
    assertTrue(promptGone.truncated());
  }

  @Test
  void aTargetThatCannotFitHasNoIds() {
    TokenSequence sequence = TokenSequence.of(PROMPT, TARGET, 1, 2, 3);
    assertFalse(sequence.fits());
    assertNull(sequence.ids());
    assertNull(sequence.lossMask());
    assertEquals(4, sequence.length(), "target with BOS and EOS");
  }

  @Test
  void bosAndEosAreOptional() {
    TokenSequence sequence = TokenSequence.of(PROMPT, TARGET, -1, -1, 4);
    assertArrayEquals(new int[] {13, 14, 20, 21}, sequence.ids());
    assertArrayEquals(new byte[] {0, 0, 1, 1}, sequence.lossMask());
  }
}
