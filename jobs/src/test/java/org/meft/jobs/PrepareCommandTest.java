package org.meft.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.tokenizer.BpeTokenizerTrainer;

/**
 * {@code bin/meft prepare} as users meet it: the summary table on stderr, one JSON object as the
 * last stdout line with {@code --json}, exit 2 for a bad command line and exit 1 with one error
 * line for a missing input, an existing output or nothing valid.
 */
class PrepareCommandTest {
  @TempDir static Path dir;
  static Path input;
  static Path tokenizer;

  record Result(int code, String out, String err) {}

  @BeforeAll
  static void writeInputs() throws IOException {
    input = Files.createDirectories(dir.resolve("raw/gsm8k"));
    Files.writeString(
        input.resolve("train.jsonl"),
        "{\"question\": \"What is 6 times 7?\", \"answer\": \"6*7 = <<6*7=42>>42\\n#### 42\"}\n"
            + "{\"question\": \"What is 2 plus 2?\", \"answer\": \"2+2 = 4\\n#### 4\"}\n"
            + "{\"question\": \"Broken\"\n");
    Files.writeString(
        input.resolve("test.jsonl"),
        "{\"question\": \"What is 3 plus 4?\", \"answer\": \"3+4 = 7\\n#### 7\"}\n");
    tokenizer = dir.resolve("tokenizer.json");
    BpeTokenizerTrainer.write(tokenizer, BpeTokenizerTrainer.defaultCorpus(), 512);
  }

  /** Runs {@code prepare} through Main, with the summary table captured from the command. */
  static Result prepare(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream errStream = new PrintStream(err, true, StandardCharsets.UTF_8);
    PrepareCommand command = new PrepareCommand(errStream);
    int code;
    try {
      code = command.run(List.of(args), new PrintStream(out, true, StandardCharsets.UTF_8));
    } catch (UsageException e) {
      code = 2;
      errStream.println(e.getMessage());
    } catch (IllegalArgumentException e) {
      code = 1;
      errStream.println(e.getMessage());
    } catch (Exception e) {
      throw new AssertionError(e);
    }
    return new Result(
        code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  @Test
  void printsTheTableAndTheJsonSummary() throws IOException {
    Path output = dir.resolve("prepared");
    Result result =
        prepare(
            "--input",
            input.toString(),
            "--datasets",
            "gsm8k",
            "--tokenizer",
            tokenizer.toString(),
            "--output",
            output.toString(),
            "--master",
            "local[2]",
            "--json");
    assertEquals(0, result.code(), result.err());
    assertTrue(result.err().contains("dataset    split     records  rejected"), result.err());
    assertTrue(result.err().contains("gsm8k      train           2         1"), result.err());
    String[] lines = result.out().strip().split("\n");
    JsonObject json = JsonParser.parseString(lines[lines.length - 1]).getAsJsonObject();
    JsonObject totals = json.getAsJsonObject("totals");
    assertEquals(4, totals.get("units").getAsLong());
    assertEquals(3, totals.get("records").getAsLong());
    assertEquals(1, totals.get("rejected").getAsLong());
    assertEquals(2, json.getAsJsonArray("splits").size());
    assertTrue(json.getAsJsonObject("seconds").get("tokenize").getAsDouble() >= 0);
    assertTrue(Files.exists(output.resolve("_manifest.json")));
    assertTrue(
        Files.exists(output.resolve("dataset=gsm8k/split=test/part-00000-of-00001.parquet")));

    Result again =
        meft(
            "prepare",
            "--input",
            input.toString(),
            "--datasets",
            "gsm8k",
            "--tokenizer",
            tokenizer.toString(),
            "--output",
            output.toString());
    assertOneErrorLine(again, "already exists");
  }

  @Test
  void badCommandLinesExitWithTwo() {
    assertEquals(2, meft("prepare", "--input", input.toString()).code(), "missing flags");
    assertEquals(
        2,
        meft(
                "prepare",
                "--input",
                input.toString(),
                "--datasets",
                "mmlu",
                "--tokenizer",
                tokenizer.toString(),
                "--output",
                dir.resolve("x").toString())
            .code(),
        "unknown dataset");
    assertEquals(
        2,
        meft(
                "prepare",
                "--input",
                input.toString(),
                "--datasets",
                "gsm8k",
                "--tokenizer",
                tokenizer.toString(),
                "--output",
                dir.resolve("x").toString(),
                "--max-length",
                "3")
            .code(),
        "max length below the minimum");
    assertEquals(
        2,
        meft(
                "prepare",
                "--input",
                input.toString(),
                "--datasets",
                "gsm8k",
                "--tokenizer",
                tokenizer.toString(),
                "--output",
                dir.resolve("x").toString(),
                "--test-fraction",
                "half")
            .code());
    assertEquals(0, meft("prepare", "--help").code());
  }

  @Test
  void missingInputsAreOneClearError() {
    assertOneErrorLine(
        meft(
            "prepare",
            "--input",
            dir.resolve("nowhere").toString(),
            "--datasets",
            "gsm8k",
            "--tokenizer",
            tokenizer.toString(),
            "--output",
            dir.resolve("y").toString()),
        "input not found");
    assertOneErrorLine(
        meft(
            "prepare",
            "--input",
            input.toString(),
            "--datasets",
            "gsm8k",
            "--tokenizer",
            dir.resolve("none.json").toString(),
            "--output",
            dir.resolve("y").toString()),
        "tokenizer file not found");
    assertFalse(Files.exists(dir.resolve("y")));
  }

  @Test
  void nothingValidIsOneClearError() throws IOException {
    Path bad = Files.createDirectories(dir.resolve("bad/gsm8k"));
    Files.writeString(bad.resolve("train.jsonl"), "not json\n{\"question\": 1}\n");
    Result result =
        meft(
            "prepare",
            "--input",
            bad.toString(),
            "--datasets",
            "gsm8k",
            "--tokenizer",
            tokenizer.toString(),
            "--output",
            dir.resolve("z").toString(),
            "--master",
            "local[1]");
    assertOneErrorLine(result, "nothing valid to prepare: all 2 records were rejected");
  }

  private static Result meft(String... args) {
    MainTest.Result result = MainTest.meft(args);
    return new Result(result.code(), result.out(), result.err());
  }

  private static void assertOneErrorLine(Result result, String expected) {
    assertEquals(1, result.code(), result.err());
    String[] lines = result.err().strip().split("\n");
    assertEquals(1, lines.length, "one error line expected, got:\n" + result.err());
    assertTrue(lines[0].startsWith("meft prepare: error: "), lines[0]);
    assertTrue(lines[0].contains(expected), lines[0]);
  }
}
