package org.meft.datasets.prepare;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.datasets.FileType;
import org.meft.datasets.SplitRole;
import org.meft.datasets.testing.Fixtures;

/**
 * Each kind of bad raw record, fed through the reader of its file type: the exact rejections, with
 * position and reason, and the good records intact around them.
 */
class RawParserTest {
  @TempDir Path dir;

  @Test
  void jsonLinesRejectEachBadLineAlone() {
    Path fixtures = Fixtures.copy(dir);
    Path dev = fixtures.resolve("nq_open/NQ-open.dev.jsonl");
    Fixtures.appendInvalidUtf8Line(dev);
    List<Parsed> parsed = parse(source("nq", dev, FileType.JSONL, SplitRole.HASHED));
    assertEquals(
        List.of(
            "line 1 ok",
            "line 2 ok",
            "line 3 malformed_json",
            "line 4 missing_field",
            "line 6 wrong_type",
            "line 7 empty_answers",
            "line 8 wrong_type",
            "line 9 empty_value",
            "line 10 invalid_utf8"),
        outcomes(parsed),
        "line 5 is blank: not a record");
    assertEquals("Thomas Jefferson", parsed.get(0).record().target());
    assertEquals("Paris", parsed.get(1).record().target());
    assertTrue(parsed.get(8).message().contains("byte 18"), parsed.get(8).message());
    assertTrue(parsed.get(8).raw().startsWith("{\"question\": \"bad "), parsed.get(8).raw());
    assertNull(parsed.get(2).split(), "hashed records have no split until they have an id");
  }

  @Test
  void squadDocumentsRejectQuestionsAndParagraphs() {
    Path fixtures = Fixtures.copy(dir);
    List<Parsed> parsed =
        parse(
            source(
                "squad", fixtures.resolve("squad/dev-v1.1.json"), FileType.JSON, SplitRole.TEST));
    assertEquals(
        List.of(
            "data[0].paragraphs[0].qas[0] ok",
            "data[0].paragraphs[0].qas[1] ok",
            "data[0].paragraphs[0].qas[2] answer_not_in_context",
            "data[0].paragraphs[0].qas[3] missing_field",
            "data[0].paragraphs[0].qas[4] empty_answers",
            "data[0].paragraphs[1] wrong_type",
            "data[1].paragraphs[0].qas[0] ok"),
        outcomes(parsed));
    assertEquals("test", parsed.get(2).split(), "a dev file's rejections belong to test");
    assertEquals(
        List.of(1L, 2L, 3L, 4L, 5L, 6L, 7L), parsed.stream().map(Parsed::ordinal).toList());
  }

  @Test
  void closedBookSquadAsksTheQuestionWithoutItsPassage() {
    Path fixtures = Fixtures.copy(dir);
    SourceFile file =
        source("squad", fixtures.resolve("squad/dev-v1.1.json"), FileType.JSON, SplitRole.TEST);
    List<Parsed> open = parse(file);
    List<Parsed> closed = parse(file.withClosedBook(true));
    assertEquals(outcomes(open), outcomes(closed), "the same records are valid and rejected");
    org.meft.datasets.Record book = open.get(0).record();
    org.meft.datasets.Record memory = closed.get(0).record();
    assertTrue(book.prompt().contains("Passage: Super Bowl 50 was an American football game"));
    assertEquals(
        "Answer the question with a short answer.\n"
            + "Question: Which NFL team represented the AFC at Super Bowl 50?\nAnswer:",
        memory.prompt());
    assertEquals("Denver Broncos", memory.target());
    assertEquals(book.references(), memory.references());
    assertEquals(book.id(), memory.id());
  }

  @Test
  void aTruncatedDocumentKeepsWhatCameBefore() {
    Path fixtures = Fixtures.copy(dir);
    List<Parsed> parsed =
        parse(
            source(
                "toolbench",
                fixtures.resolve("toolbench/G2_category.json"),
                FileType.JSON,
                SplitRole.HASHED));
    assertEquals(List.of("[0] ok", "after [0] malformed_json"), outcomes(parsed));
    assertTrue(parsed.get(1).message().contains("the rest of the file"), parsed.get(1).message());
  }

  @Test
  void invalidUtf8InADocumentRejectsOnlyTheRecordsHoldingIt() throws IOException {
    Path file = dir.resolve("G9_bad.json");
    String good =
        "{\"query\": \"Q%s\", \"query_id\": %d, \"api_list\": [{\"tool_name\": \"T\","
            + " \"api_name\": \"A\"}], \"relevant APIs\": [[\"T\", \"A\"]]}";
    byte[] first = ("[" + String.format(good, "1", 1) + ", ").getBytes(StandardCharsets.UTF_8);
    byte[] second = String.format(good, "\u00ff", 2).getBytes(StandardCharsets.UTF_8);
    byte[] third = (", " + String.format(good, "3", 3) + "]").getBytes(StandardCharsets.UTF_8);
    // Cut the two-byte U+00FF to its first byte: an invalid sequence inside record [1].
    int cut = new String(second, StandardCharsets.UTF_8).indexOf('\u00ff');
    byte[] broken = new byte[second.length - 1];
    System.arraycopy(second, 0, broken, 0, cut + 1);
    System.arraycopy(second, cut + 2, broken, cut + 1, second.length - cut - 2);
    Files.write(file, concat(first, broken, third));
    List<Parsed> parsed = parse(source("toolbench", file, FileType.JSON, SplitRole.HASHED));
    assertEquals(List.of("[0] ok", "[1] invalid_utf8", "[2] ok"), outcomes(parsed));
  }

  @Test
  void wrongDocumentShapesAreOneRejection() throws IOException {
    Path notArray = dir.resolve("G1_object.json");
    Files.writeString(notArray, "{\"query\": \"q\"}");
    assertEquals(
        List.of("file wrong_type"),
        outcomes(parse(source("toolbench", notArray, FileType.JSON, SplitRole.HASHED))));
    Path noData = dir.resolve("dev-v1.1.json");
    Files.writeString(noData, "\uFEFF{\"version\": \"1.1\", \"articles\": []}");
    assertEquals(
        List.of("file missing_field"),
        outcomes(parse(source("squad", noData, FileType.JSON, SplitRole.TEST))));
    Path lenient = dir.resolve("test.jsonl");
    Files.writeString(
        lenient,
        "{'question': 'q', 'answer': '#### 1'}\n{\"question\": \"q\", \"answer\": \"#### 1\"} x\n");
    assertEquals(
        List.of("line 1 malformed_json", "line 2 malformed_json"),
        outcomes(parse(source("gsm8k", lenient, FileType.JSONL, SplitRole.TEST))),
        "strict JSON: no single quotes, no trailing text");
  }

  private static SourceFile source(String dataset, Path file, FileType type, SplitRole role) {
    return new SourceFile(dataset, file.toString(), type, 0, "", role);
  }

  private static List<Parsed> parse(SourceFile source) {
    List<Parsed> parsed = new ArrayList<>();
    try {
      RawParser.parseFile(source, Files.readAllBytes(Path.of(source.path())), 0.2, parsed::add);
    } catch (IOException e) {
      throw new AssertionError(e);
    }
    return parsed;
  }

  private static List<String> outcomes(List<Parsed> parsed) {
    return parsed.stream()
        .map(p -> p.position() + " " + (p.record() != null ? "ok" : p.reason().code()))
        .toList();
  }

  private static byte[] concat(byte[]... parts) {
    int length = 0;
    for (byte[] part : parts) {
      length += part.length;
    }
    byte[] all = new byte[length];
    int at = 0;
    for (byte[] part : parts) {
      System.arraycopy(part, 0, all, at, part.length);
      at += part.length;
    }
    return all;
  }
}
