package org.meft.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.model.LlamaConfig;
import org.meft.tokenizer.BpeTokenizerTrainer;
import org.meft.tokenizer.SequenceLayout;
import org.meft.tokenizer.TextTokenizer;

/** Training examples from text follow {@link SequenceLayout}: the model's BOS and EOS, or none. */
class TrainingExampleTest {
  private static final String PROMPT = "Question: what did the little fox find? Answer:";
  private static final String TARGET = " a red ball";

  @TempDir static Path dir;
  static TextTokenizer tokenizer;

  @BeforeAll
  static void train() throws IOException {
    Path file = dir.resolve("tokenizer.json");
    BpeTokenizerTrainer.write(file, BpeTokenizerTrainer.defaultCorpus(), 512);
    tokenizer = TextTokenizer.open(file);
  }

  @AfterAll
  static void close() {
    tokenizer.close();
  }

  private static LlamaConfig config(int bos, List<Integer> eos) {
    return new LlamaConfig(32, 64, 1, 4, 2, 8, 512, 64, 1e-5f, 1e4f, true, bos, eos);
  }

  @Test
  void aPairIsTheModelsLayoutOfItsEncodedTexts() {
    long[] prompt = tokenizer.encode(PROMPT);
    long[] target = tokenizer.encode(TARGET);
    TrainingExample example =
        TrainingExample.of(PROMPT, TARGET, tokenizer, config(1, List.of(2)), 64);
    assertEquals(1, example.tokens()[0]);
    assertEquals(2, example.tokens()[example.tokens().length - 1]);
    assertEquals(prompt.length + target.length + 2, example.tokens().length);
    SequenceLayout.Packed packed = new SequenceLayout(1, 2).pack(prompt, target, 64);
    assertArrayEquals(packed.ids(), example.tokens());
    assertArrayEquals(packed.lossMask(), example.lossMask());
  }

  @Test
  void withoutAnEosIdTheSequenceEndsWithTheTarget() {
    long[] target = tokenizer.encode(TARGET);
    TrainingExample example =
        TrainingExample.of(PROMPT, TARGET, tokenizer, config(1, List.of()), 64);
    assertEquals(
        target[target.length - 1],
        example.tokens()[example.tokens().length - 1],
        "no BOS or other token stands in for EOS");
    int trained = 0;
    for (boolean t : example.lossMask()) {
      trained += t ? 1 : 0;
    }
    assertEquals(target.length, trained);
  }

  @Test
  void anOverLongPairLosesPromptTokensFromTheFront() {
    long[] prompt = tokenizer.encode(PROMPT);
    long[] target = tokenizer.encode(TARGET);
    int maxLength = target.length + 4;
    TrainingExample example =
        TrainingExample.of(PROMPT, TARGET, tokenizer, config(1, List.of(2)), maxLength);
    assertEquals(maxLength, example.tokens().length);
    assertEquals(prompt[prompt.length - 1], example.tokens()[2], "the prompt's last tokens stay");
    assertEquals(prompt[prompt.length - 2], example.tokens()[1]);
  }

  @Test
  void aTargetThatCannotFitOrTrainsNothingIsAnError() {
    int needed = tokenizer.encode(TARGET).length + 2;
    IllegalArgumentException tooLong =
        assertThrows(
            IllegalArgumentException.class,
            () -> TrainingExample.of(PROMPT, TARGET, tokenizer, config(1, List.of(2)), needed - 1));
    assertTrue(tooLong.getMessage().contains("needs " + needed + " tokens"), tooLong.getMessage());
    IllegalArgumentException nothing =
        assertThrows(
            IllegalArgumentException.class,
            () -> TrainingExample.of(PROMPT, "", tokenizer, config(1, List.of()), 64));
    assertTrue(nothing.getMessage().contains("nothing to train"), nothing.getMessage());
  }

  @Test
  void aJsonlLineThatCannotFitIsNamed() throws IOException {
    Path file = dir.resolve("data.jsonl");
    Files.writeString(
        file,
        "{\"prompt\": \"a\", \"target\": \"b\"}\n"
            + "{\"prompt\": \"a\", \"target\": \"a target far too long for five tokens\"}\n");
    IllegalArgumentException error =
        assertThrows(
            IllegalArgumentException.class,
            () -> TrainingExample.readJsonl(file, tokenizer, config(1, List.of(2)), 5));
    assertTrue(error.getMessage().startsWith(file + ":2: the target needs"), error.getMessage());
  }
}
