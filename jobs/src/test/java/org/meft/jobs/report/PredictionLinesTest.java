package org.meft.jobs.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code score}'s JSON Lines input, checked before any Spark work: each row's own types, long
 * lines, and one-line refusals naming the file and the line.
 */
class PredictionLinesTest {
  @TempDir Path dir;

  private Path write(String name, String text) throws IOException {
    return Files.writeString(dir.resolve(name), text, StandardCharsets.UTF_8);
  }

  private String refusal(Path file) {
    String message =
        assertThrows(IllegalArgumentException.class, () -> ScoreJob.Input.open(file)).getMessage();
    assertFalse(message.contains("\n"), message);
    return message;
  }

  @Test
  void readsEachRowsReferencesByItsOwnType() throws IOException {
    Path file =
        write(
            "mixed.jsonl",
            "{\"id\":\"m1\",\"prediction\":\"Paris\",\"references\":[\"Paris\",\"City of Light\"]}\n"
                + "{\"id\":\"m2\",\"prediction\":\"Paris\",\"references\":\"Paris\"}\n"
                + "{\"id\":3,\"prediction\":42}\n"
                + "{\"id\":\"m4\",\"prediction\":null,\"references\":[\"x\"]}\n");
    List<Row> rows = PredictionLines.read(file);
    assertArrayEquals(new Object[] {"Paris", "City of Light"}, (Object[]) rows.get(0).get(2));
    assertArrayEquals(new Object[] {"Paris"}, (Object[]) rows.get(1).get(2));
    assertEquals("3", rows.get(2).getString(0));
    assertEquals("42", rows.get(2).getString(1), "a number as written, not 42.0");
    assertTrue(rows.get(2).isNullAt(2));
    assertNull(rows.get(3).getString(1));
  }

  @Test
  void readsALineOfTwentyOneMillionCharacters() throws IOException {
    String prediction = "x".repeat(21_000_000);
    Path file = write("long.jsonl", "{\"id\":\"a\",\"prediction\":\"" + prediction + "\"}\n");
    assertEquals(prediction.length(), PredictionLines.read(file).get(0).getString(1).length());
  }

  @Test
  void refusesABadLineNamingTheFileAndTheLine() throws IOException {
    String good = "{\"id\":\"a\",\"prediction\":\"x\"}\n";
    Path json = write("bad.jsonl", good + "{\"id\": oops}\n");
    assertEquals(json + ":2: not valid JSON (at column 8)", refusal(json));
    Path trailing = write("trailing.jsonl", good + good.strip() + " {}\n");
    assertTrue(refusal(trailing).startsWith(trailing + ":2: "), refusal(trailing));
    Path array = write("array.jsonl", "[1]\n");
    assertTrue(refusal(array).startsWith(array + ":1: "), refusal(array));
    Path type = write("type.jsonl", good + "{\"id\":\"b\",\"prediction\":[\"x\"]}\n");
    assertTrue(refusal(type).startsWith(type + ":2: field 'prediction'"), refusal(type));
    Path references =
        write(
            "references.jsonl", good + "{\"id\":\"b\",\"prediction\":\"x\",\"references\":[1]}\n");
    assertTrue(
        refusal(references).startsWith(references + ":2: field 'references[0]'"),
        refusal(references));
    Path id = write("id.jsonl", "{\"prediction\":\"x\"}\n");
    assertTrue(refusal(id).startsWith(id + ":1: missing field 'id'"), refusal(id));
  }

  @Test
  void refusesTextThatIsNotUtf8NamingTheLine() throws IOException {
    Path latin1 = dir.resolve("latin1.jsonl");
    Files.write(
        latin1,
        "{\"id\":\"a\",\"prediction\":\"x\"}\n{\"id\":\"b\",\"prediction\":\"caf\u00e9\"}\n"
            .getBytes(StandardCharsets.ISO_8859_1));
    assertEquals(latin1 + ":2: not valid UTF-8 text", refusal(latin1));
    Path utf16 = dir.resolve("utf16.jsonl");
    Files.write(utf16, "{\"id\":\"a\",\"prediction\":\"x\"}\n".getBytes(StandardCharsets.UTF_16));
    assertEquals(utf16 + ":1: not valid UTF-8 text", refusal(utf16));
  }

  @Test
  void refusesAFolderWithoutParquetAndAnOutputThatIsAFile() throws IOException {
    Path folder = Files.createDirectories(dir.resolve("folder"));
    write("folder/predictions.jsonl", "{\"id\":\"a\",\"prediction\":\"x\"}\n");
    assertTrue(refusal(folder).startsWith(folder + ": a folder without .parquet files"));
    Path file = write("existing", "");
    String message =
        assertThrows(IllegalArgumentException.class, () -> ScoreJob.checkOutput(file)).getMessage();
    assertTrue(message.startsWith(file + " is a file"), message);
  }
}
