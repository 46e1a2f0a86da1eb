package org.meft.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import org.meft.datasets.StableHash;
import org.meft.jobs.report.ScoreJob;
import org.meft.tokenizer.BpeTokenizerTrainer;

/**
 * {@code bin/meft score --prepared DIR}: a tiny GSM8K split is prepared, then a predictions file is
 * scored by id against its test split; an unknown id and a missing id are reported and counted,
 * never silently dropped; duplicate ids are refused.
 */
class ScoreCommandTest {
  @TempDir static Path dir;
  static Path prepared;
  static final String[] QUESTIONS = {
    "What is 3 plus 4?", "What is 6 times 7?", "What is 10 minus 1?"
  };

  static String id(String question) {
    return "gsm8k-" + StableHash.hex16(question);
  }

  @BeforeAll
  static void prepare() throws IOException {
    Path raw = Files.createDirectories(dir.resolve("raw/gsm8k"));
    Files.writeString(
        raw.resolve("train.jsonl"),
        "{\"question\": \"What is 2 plus 2?\", \"answer\": \"2+2 = 4\\n#### 4\"}\n");
    Files.writeString(
        raw.resolve("test.jsonl"),
        "{\"question\": \""
            + QUESTIONS[0]
            + "\", \"answer\": \"3+4 = 7\\n#### 7\"}\n"
            + "{\"question\": \""
            + QUESTIONS[1]
            + "\", \"answer\": \"6*7 = 42\\n#### 42\"}\n"
            + "{\"question\": \""
            + QUESTIONS[2]
            + "\", \"answer\": \"10-1 = 9\\n#### 9\"}\n");
    Path tokenizer = dir.resolve("tokenizer.json");
    BpeTokenizerTrainer.write(tokenizer, BpeTokenizerTrainer.defaultCorpus(), 512);
    prepared = dir.resolve("prepared");
    int code =
        new PrepareCommand(new PrintStream(new ByteArrayOutputStream(), true))
            .run(
                List.of(
                    "--input",
                    raw.getParent().toString(),
                    "--datasets",
                    "gsm8k",
                    "--tokenizer",
                    tokenizer.toString(),
                    "--output",
                    prepared.toString(),
                    "--master",
                    "local[1]"),
                new PrintStream(new ByteArrayOutputStream(), true));
    assertEquals(0, code);
  }

  static String score(Path predictions, Path output, String... more) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    List<String> args =
        new java.util.ArrayList<>(
            List.of(
                "--predictions",
                predictions.toString(),
                "--dataset",
                "gsm8k",
                "--prepared",
                prepared.toString(),
                "--output",
                output.toString()));
    args.addAll(List.of(more));
    int code = new ScoreCommand().run(args, new PrintStream(out, true, StandardCharsets.UTF_8));
    assertEquals(0, code);
    return out.toString(StandardCharsets.UTF_8);
  }

  @Test
  void scoresByIdAgainstThePreparedTestSplitAndReportsMissingAndUnknownIds() throws IOException {
    Path predictions = dir.resolve("predictions.jsonl");
    Files.writeString(
        predictions,
        "{\"id\": \""
            + id(QUESTIONS[0])
            + "\", \"prediction\": \"3+4 = 7\\n#### 7\"}\n"
            + "{\"id\": \""
            + id(QUESTIONS[1])
            + "\", \"prediction\": \"#### 41\"}\n"
            + "{\"id\": \"gsm8k-not-in-the-split\", \"prediction\": \"#### 9\"}\n",
        StandardCharsets.UTF_8);
    Path output = dir.resolve("scored");
    String table = score(predictions, output);

    // Three test examples: one right, one wrong, one missing (scored 0, kept in the denominator).
    assertTrue(
        table.contains("| gsm8k | exact_match,strict-match | 0.3333 |"),
        "the mean over 3\n" + table);
    assertTrue(
        table.contains(" 3 | 0 | 1 | 1 |"), "examples, unparsed, missing, unknown\n" + table);
    assertTrue(
        table.contains(
            "missing (test examples without a prediction, scored 0), 1: " + id(QUESTIONS[2])),
        table);
    assertTrue(table.contains("gsm8k-not-in-the-split"), table);
    List<String> summary = Files.readAllLines(output.resolve(ScoreJob.SUMMARY));
    assertTrue(summary.get(0).endsWith("examples,unparsed,missing,unknown"), summary.get(0));
    assertTrue(summary.get(1).endsWith(",3,0,1,1"), summary.get(1));
    List<String> rows = Files.readAllLines(output.resolve(ScoreJob.JSONL));
    assertEquals(3, rows.size(), "one row per test example");
    assertTrue(
        rows.stream()
            .anyMatch(row -> row.contains(id(QUESTIONS[2])) && row.contains("\"missing\":true")),
        String.join("\n", rows));
  }

  @Test
  void jsonGivesTheSameAggregateAsOneObject() throws IOException {
    Path predictions = dir.resolve("json-predictions.jsonl");
    Files.writeString(
        predictions,
        "{\"id\": \"" + id(QUESTIONS[0]) + "\", \"prediction\": \"#### 7\"}\n",
        StandardCharsets.UTF_8);
    String out = score(predictions, dir.resolve("scored-json"), "--json");
    com.google.gson.JsonObject json =
        com.google.gson.JsonParser.parseString(out.strip()).getAsJsonObject();
    assertEquals("gsm8k", json.get("dataset").getAsString());
    assertEquals(3, json.get("examples").getAsLong());
    assertEquals(2, json.getAsJsonArray("missing").size(), out);
    double first =
        json.getAsJsonObject("scores").entrySet().iterator().next().getValue().getAsDouble();
    assertEquals(1.0 / 3, first, 1e-9, out);
  }

  @Test
  void refusesDuplicateIds() throws IOException {
    Path predictions = dir.resolve("duplicates.jsonl");
    Files.writeString(
        predictions,
        "{\"id\": \""
            + id(QUESTIONS[0])
            + "\", \"prediction\": \"#### 7\"}\n"
            + "{\"id\": \""
            + id(QUESTIONS[0])
            + "\", \"prediction\": \"#### 8\"}\n"
            + "{\"id\": \""
            + id(QUESTIONS[1])
            + "\", \"prediction\": \"#### 42\"}\n",
        StandardCharsets.UTF_8);
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> score(predictions, dir.resolve("refused")));
    assertTrue(e.getMessage().contains("1 duplicate id(s)"), e.getMessage());
    assertTrue(e.getMessage().contains(id(QUESTIONS[0])), e.getMessage());
    assertTrue(!Files.exists(dir.resolve("refused").resolve(ScoreJob.SUMMARY)));
  }
}
