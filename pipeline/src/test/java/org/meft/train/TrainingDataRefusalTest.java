package org.meft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.meft.model.LlamaConfig;
import org.meft.testing.Refusal;
import org.meft.testing.Shared;
import org.meft.tokenizer.TextTokenizer;

/**
 * Malformed training data (JSONL of prompt/target pairs), generated here, each refused with one
 * line naming the file and line, before the work a bad line implies (an over-long line is refused
 * before it is read whole or tokenized).
 */
class TrainingDataRefusalTest {
  private static final String GOOD = "{\"prompt\": \"Once upon\", \"target\": \" a time\"}\n";

  @TempDir static Path dir;
  static TextTokenizer tokenizer;
  static LlamaConfig config;
  private static int written;

  @BeforeAll
  static void openTokenizer() {
    Path model = Shared.require("models/stories260K-hf");
    tokenizer = TextTokenizer.open(model);
    config = LlamaConfig.fromHuggingFace(model.resolve("config.json"));
  }

  @AfterAll
  static void closeTokenizer() {
    if (tokenizer != null) {
      tokenizer.close();
    }
  }

  private static Path data(byte[]... lines) {
    Path file = dir.resolve("data-" + written++ + ".jsonl");
    try (var out = Files.newOutputStream(file)) {
      for (byte[] line : lines) {
        out.write(line);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return file;
  }

  private static byte[] utf8(String text) {
    return text.getBytes(StandardCharsets.UTF_8);
  }

  private static Refusal read(String name, Path file, String... fragments) {
    String[] expected =
        Stream.concat(Stream.of(file.toString()), Stream.of(fragments)).toArray(String[]::new);
    return Refusal.of(name, () -> TrainingExample.readJsonl(file, tokenizer, config, 64), expected);
  }

  @TestFactory
  Stream<DynamicTest> malformedData() {
    String longText = "a".repeat(3 << 20);
    return Stream.of(
            read(
                "a line over the length limit",
                data(utf8(GOOD), utf8("{\"prompt\": \"" + longText + "\", \"target\": \"b\"}\n")),
                ":2:",
                "longer than"),
            read(
                "invalid UTF-8",
                data(
                    utf8(GOOD),
                    utf8(GOOD),
                    utf8("{\"prompt\": \"caf"),
                    new byte[] {(byte) 0xC3, 0x28},
                    utf8("\", \"target\": \"x\"}\n")),
                ":3:",
                "UTF-8"),
            read("missing file", dir.resolve("absent.jsonl"), "not found"),
            read("not JSON", data(utf8(GOOD), utf8("{\"prompt\": \n")), ":2:", "JSON"),
            read("a number target", data(utf8("{\"prompt\": \"a\", \"target\": 5}\n")), ":1:"),
            read("no examples", data(utf8("\n\n")), "no examples"))
        .map(Refusal::test);
  }

  @Test
  void goodLinesAroundBlankOnesAreRead() {
    Path file = data(utf8(GOOD), utf8("\n"), utf8(GOOD.strip()));
    assertEquals(2, TrainingExample.readJsonl(file, tokenizer, config, 64).size());
  }
}
