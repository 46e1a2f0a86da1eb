package org.meft.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.meft.model.LlamaConfig;

/** The one sequence rule, against sequences written out by hand. */
class SequenceLayoutTest {
  private static final long[] PROMPT = {10, 11, 12, 13, 14};
  private static final long[] TARGET = {20, 21};
  private static final SequenceLayout BOTH = new SequenceLayout(1, 2);
  private static final SequenceLayout NO_BOS = new SequenceLayout(SequenceLayout.NONE, 2);
  private static final SequenceLayout NO_EOS = new SequenceLayout(1, SequenceLayout.NONE);
  private static final SequenceLayout NEITHER =
      new SequenceLayout(SequenceLayout.NONE, SequenceLayout.NONE);

  private static boolean[] mask(int... bits) {
    boolean[] mask = new boolean[bits.length];
    for (int i = 0; i < bits.length; i++) {
      mask[i] = bits[i] != 0;
    }
    return mask;
  }

  @Test
  void bosPromptTargetEosWithTheTargetAndEosTrained() {
    SequenceLayout.Packed packed = BOTH.pack(PROMPT, TARGET, 16);
    assertArrayEquals(new long[] {1, 10, 11, 12, 13, 14, 20, 21, 2}, packed.ids());
    assertArrayEquals(mask(0, 0, 0, 0, 0, 0, 1, 1, 1), packed.lossMask());
    assertEquals(9, packed.length());
    assertEquals(3, packed.trainedTokens());
    assertFalse(packed.truncated());
  }

  @Test
  void withoutBosTheSequenceStartsWithThePrompt() {
    SequenceLayout.Packed packed = NO_BOS.pack(PROMPT, TARGET, 16);
    assertArrayEquals(new long[] {10, 11, 12, 13, 14, 20, 21, 2}, packed.ids());
    assertArrayEquals(mask(0, 0, 0, 0, 0, 1, 1, 1), packed.lossMask());
  }

  @Test
  void withoutEosNothingStandsInForIt() {
    SequenceLayout.Packed packed = NO_EOS.pack(PROMPT, TARGET, 16);
    assertArrayEquals(new long[] {1, 10, 11, 12, 13, 14, 20, 21}, packed.ids());
    assertArrayEquals(mask(0, 0, 0, 0, 0, 0, 1, 1), packed.lossMask());
    SequenceLayout.Packed neither = NEITHER.pack(PROMPT, TARGET, 4);
    assertArrayEquals(new long[] {13, 14, 20, 21}, neither.ids());
    assertArrayEquals(mask(0, 0, 1, 1), neither.lossMask());
    assertTrue(neither.truncated());
  }

  @Test
  void thePromptLosesTokensFromTheFrontBosStays() {
    SequenceLayout.Packed packed = BOTH.pack(PROMPT, TARGET, 6);
    assertArrayEquals(new long[] {1, 13, 14, 20, 21, 2}, packed.ids());
    assertArrayEquals(mask(0, 0, 0, 1, 1, 1), packed.lossMask());
    assertTrue(packed.truncated());
    SequenceLayout.Packed promptGone = BOTH.pack(PROMPT, TARGET, 4);
    assertArrayEquals(new long[] {1, 20, 21, 2}, promptGone.ids());
    assertTrue(promptGone.truncated());
    assertFalse(BOTH.pack(PROMPT, TARGET, 9).truncated(), "exactly full");
    SequenceLayout.Packed noBos = NO_BOS.pack(PROMPT, TARGET, 5);
    assertArrayEquals(new long[] {13, 14, 20, 21, 2}, noBos.ids());
  }

  @Test
  void theTargetIsNeverTruncatedASequenceThatCannotHoldItDoesNotFit() {
    long[] target = {20, 21, 22, 23, 24, 25};
    for (int maxLength = 8; maxLength <= 16; maxLength++) {
      SequenceLayout.Packed packed = BOTH.pack(PROMPT, target, maxLength);
      assertTrue(packed.fits());
      assertEquals(Math.min(5, maxLength - 8), packed.length() - 8, "prompt tokens kept");
      long[] tail = Arrays.copyOfRange(packed.ids(), packed.length() - 7, packed.length());
      assertArrayEquals(new long[] {20, 21, 22, 23, 24, 25, 2}, tail, "whole target and EOS");
    }
    SequenceLayout.Packed tooLong = BOTH.pack(PROMPT, target, 7);
    assertFalse(tooLong.fits());
    assertNull(tooLong.ids());
    assertNull(tooLong.lossMask());
    assertEquals(8, tooLong.length(), "BOS, target and EOS: the least it needs");
    assertEquals(6, NEITHER.pack(PROMPT, target, 6).length(), "without BOS and EOS it fits in 6");
    assertTrue(NEITHER.pack(PROMPT, target, 6).fits());
    assertFalse(NO_EOS.pack(PROMPT, target, 6).fits());
  }

  @Test
  void unpackInvertsPack() {
    for (SequenceLayout layout : List.of(BOTH, NO_BOS, NO_EOS, NEITHER)) {
      for (int maxLength : new int[] {16, 6, 4}) {
        SequenceLayout.Packed packed = layout.pack(PROMPT, TARGET, maxLength);
        SequenceLayout.Parts parts = layout.unpack(packed.ids(), packed.lossMask());
        assertArrayEquals(TARGET, parts.target(), layout + " " + maxLength);
        SequenceLayout.Packed again = layout.pack(parts.prompt(), parts.target(), maxLength);
        assertArrayEquals(packed.ids(), again.ids(), layout + " " + maxLength);
        assertArrayEquals(packed.lossMask(), again.lossMask(), layout + " " + maxLength);
      }
    }
    SequenceLayout.Packed full = BOTH.pack(PROMPT, TARGET, 16);
    assertArrayEquals(PROMPT, BOTH.unpack(full.ids(), full.lossMask()).prompt());
  }

  @Test
  void unpackRefusesASequenceOfAnotherLayout() {
    SequenceLayout.Packed noBos = NO_BOS.pack(PROMPT, TARGET, 16);
    IllegalArgumentException bos =
        assertThrows(
            IllegalArgumentException.class, () -> BOTH.unpack(noBos.ids(), noBos.lossMask()));
    assertTrue(bos.getMessage().contains("does not begin with BOS 1"), bos.getMessage());
    SequenceLayout.Packed noEos = NO_EOS.pack(PROMPT, TARGET, 16);
    IllegalArgumentException eos =
        assertThrows(
            IllegalArgumentException.class, () -> BOTH.unpack(noEos.ids(), noEos.lossMask()));
    assertTrue(eos.getMessage().contains("does not end with a trained EOS 2"), eos.getMessage());
    assertThrows(
        IllegalArgumentException.class,
        () -> BOTH.unpack(new long[] {1, 10, 20, 11, 2}, mask(0, 0, 1, 0, 1)));
  }

  @Test
  void theEvaluationPromptIsTheTrainingPrefixCutFromTheFront() {
    assertArrayEquals(new long[] {1, 10, 11, 12, 13, 14}, BOTH.prompt(PROMPT, 100));
    assertArrayEquals(new long[] {1, 13, 14}, BOTH.prompt(PROMPT, 3));
    assertArrayEquals(new long[] {1}, BOTH.prompt(PROMPT, 1));
    assertArrayEquals(new long[] {1}, BOTH.prompt(PROMPT, 0), "BOS always stays");
    assertArrayEquals(new long[] {12, 13, 14}, NO_BOS.prompt(PROMPT, 3));
    assertArrayEquals(new long[] {14}, NO_BOS.prompt(PROMPT, 0), "at least one token");
    SequenceLayout.Packed packed = BOTH.pack(PROMPT, TARGET, 16);
    assertArrayEquals(
        Arrays.copyOf(packed.ids(), 6), BOTH.prompt(PROMPT, 6), "the training prefix");
    assertEquals(412, SequenceLayout.promptBudget(512, 100));
    assertEquals(1, SequenceLayout.promptBudget(512, 600));
    assertEquals(512, SequenceLayout.promptBudget(512, 0));
  }

  @Test
  void aModelsLayoutIsItsBosAndFirstEos() {
    LlamaConfig config = LlamaConfig.of(32, 64, 1, 4, 2, 64, 64);
    assertEquals(new SequenceLayout(1, 2), SequenceLayout.of(config));
    LlamaConfig noEos =
        new LlamaConfig(32, 64, 1, 4, 2, 8, 64, 64, 1e-5f, 1e4f, true, 3, List.of());
    assertEquals(new SequenceLayout(3, SequenceLayout.NONE), SequenceLayout.of(noEos));
    LlamaConfig twoEos =
        new LlamaConfig(32, 64, 1, 4, 2, 8, 64, 64, 1e-5f, 1e4f, true, 1, List.of(7, 2));
    assertEquals(new SequenceLayout(1, 7), SequenceLayout.of(twoEos));
    assertThrows(IllegalArgumentException.class, () -> new SequenceLayout(-2, 2));
  }
}
