package org.meft.datasets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * One table for every dataset: a raw unit in the official layout maps to the expected common
 * record, its target scores perfectly against its own references, and each kind of bad unit is
 * rejected with its reason.
 */
class DatasetsTest {
  static Stream<Arguments> goodUnits() {
    return Stream.of(
        Arguments.of(
            "nq",
            "NQ-open.dev.jsonl",
            "{\"question\": \"who wrote the declaration of independence\","
                + " \"answer\": [\"Thomas Jefferson\", \"Jefferson\"]}",
            "nq-377987a4f2c1419e",
            "Answer the question with a short answer.\n"
                + "Question: who wrote the declaration of independence\nAnswer:",
            "Thomas Jefferson",
            List.of("Thomas Jefferson", "Jefferson")),
        Arguments.of(
            "squad",
            "dev-v1.1.json",
            "{\"id\": \"q1\", \"title\": \"Warsaw\", \"question\": \"What is the capital of Poland?\","
                + " \"context\": \"Warsaw is the capital of Poland.\","
                + " \"answers\": [{\"answer_start\": 0, \"text\": \"Warsaw\"},"
                + " {\"answer_start\": 0, \"text\": \"Warsaw \"}]}",
            "q1",
            "Answer the question with a span of the passage.\n"
                + "Passage: Warsaw is the capital of Poland.\n"
                + "Question: What is the capital of Poland?\nAnswer:",
            "Warsaw",
            List.of("Warsaw", "Warsaw ")),
        Arguments.of(
            "squad",
            "validation-00000-of-00001.parquet",
            "{\"id\": \"q1\", \"title\": \"Warsaw\", \"question\": \"What is the capital of Poland?\","
                + " \"context\": \"Warsaw is the capital of Poland.\","
                + " \"answers\": {\"text\": [\"Warsaw\"], \"answer_start\": [0]}}",
            "q1",
            "Answer the question with a span of the passage.\n"
                + "Passage: Warsaw is the capital of Poland.\n"
                + "Question: What is the capital of Poland?\nAnswer:",
            "Warsaw",
            List.of("Warsaw")),
        Arguments.of(
            "gsm8k",
            "train.jsonl",
            "{\"question\": \"A shop sells 1,000 pens a day. How many in 3 days?\","
                + " \"answer\": \"It sells 1,000*3 = <<1000*3=3000>>3,000 pens.\\n#### 3,000\"}",
            "gsm8k-" + StableHash.hex16("A shop sells 1,000 pens a day. How many in 3 days?"),
            "Solve the problem step by step, then give the final answer after '####'.\n"
                + "Question: A shop sells 1,000 pens a day. How many in 3 days?\nAnswer:",
            "It sells 1,000*3 = 3,000 pens.\n#### 3,000",
            List.of("3000")),
        Arguments.of(
            "toolbench",
            "G1_instruction.json",
            "{\"query\": \"Love quotes, please.\", \"query_id\": 82217, \"api_list\": ["
                + "{\"tool_name\": \"Olato Quotes\", \"api_name\": \"Love Quote\","
                + " \"api_description\": \"Random\\n love  quote\"},"
                + "{\"tool_name\": \"Olato Quotes\", \"api_name\": \"Success Quote\"}],"
                + " \"relevant APIs\": [[\"Olato Quotes\", \"Love Quote\"]]}",
            "toolbench-G1_instruction-82217",
            "Pick the APIs the query needs from the candidates. Answer with each API as"
                + " tool_name :: api_name, separated by a blank line.\nCandidates:\n"
                + "- Olato Quotes :: Love Quote (Random love quote)\n"
                + "- Olato Quotes :: Success Quote\n"
                + "Query: Love quotes, please.\nAPIs:",
            "Olato Quotes :: Love Quote",
            List.of("Olato Quotes :: Love Quote")),
        // Two APIs: a blank line between them, as the authors' tool() splits, so the target
        // scores iou (and iou_lenient) 1 against its references.
        Arguments.of(
            "toolbench",
            "G1_instruction.json",
            "{\"query\": \"Quotes, please.\", \"query_id\": 7, \"api_list\": ["
                + "{\"tool_name\": \"Olato Quotes\", \"api_name\": \"Love Quote\"},"
                + "{\"tool_name\": \"Olato Quotes\", \"api_name\": \"Success Quote\"}],"
                + " \"relevant APIs\": [[\"Olato Quotes\", \"Success Quote\"],"
                + " [\"Olato Quotes\", \"Love Quote\"]]}",
            "toolbench-G1_instruction-7",
            "Pick the APIs the query needs from the candidates. Answer with each API as"
                + " tool_name :: api_name, separated by a blank line.\nCandidates:\n"
                + "- Olato Quotes :: Love Quote\n"
                + "- Olato Quotes :: Success Quote\n"
                + "Query: Quotes, please.\nAPIs:",
            "Olato Quotes :: Success Quote\n\nOlato Quotes :: Love Quote",
            List.of("Olato Quotes :: Success Quote", "Olato Quotes :: Love Quote")));
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("goodUnits")
  void mapsAGoodUnitToTheCommonRecord(
      String name,
      String fileName,
      String json,
      String id,
      String prompt,
      String target,
      List<String> references)
      throws InvalidRecordException {
    Dataset dataset = Datasets.byName(name);
    Record record = dataset.toRecord(unit(json), fileName, SplitRole.TRAIN, 0.2);
    assertEquals(name, record.dataset());
    assertEquals(Split.TRAIN, record.split());
    assertEquals(id, record.id());
    assertEquals(prompt, record.prompt());
    assertEquals(target, record.target());
    assertEquals(references, record.references());
    double[] scores = dataset.score(record.target(), record.references());
    assertTrue(Arrays.stream(scores).allMatch(s -> s == 1.0), Arrays.toString(scores));
  }

  static Stream<Arguments> badUnits() {
    return Stream.of(
        Arguments.of("nq", "{\"question\": \"q\"}", RejectReason.MISSING_FIELD, "'answer'"),
        Arguments.of(
            "nq", "{\"question\": \"q\", \"answer\": \"a\"}", RejectReason.WRONG_TYPE, "an array"),
        Arguments.of(
            "nq", "{\"question\": \"q\", \"answer\": []}", RejectReason.EMPTY_ANSWERS, "'answer'"),
        Arguments.of(
            "nq", "{\"question\": \"q\", \"answer\": [1]}", RejectReason.WRONG_TYPE, "answer[0]"),
        Arguments.of(
            "nq",
            "{\"question\": \" \", \"answer\": [\"a\"]}",
            RejectReason.EMPTY_VALUE,
            "question"),
        Arguments.of(
            "squad",
            "{\"id\": \"x\", \"question\": \"q\", \"context\": \"abc\","
                + " \"answers\": [{\"text\": \"zzz\"}]}",
            RejectReason.ANSWER_NOT_IN_CONTEXT,
            "'zzz'"),
        Arguments.of(
            "squad",
            "{\"id\": \"x\", \"question\": \"q\", \"context\": \"abc\", \"answers\": {\"text\": []}}",
            RejectReason.EMPTY_ANSWERS,
            "answers.text"),
        Arguments.of(
            "squad",
            "{\"id\": \"x\", \"question\": \"q\", \"answers\": [{\"text\": \"a\"}]}",
            RejectReason.MISSING_FIELD,
            "'context'"),
        Arguments.of(
            "squad",
            "{\"id\": [1], \"question\": \"q\", \"context\": \"a\", \"answers\": [{\"text\": \"a\"}]}",
            RejectReason.WRONG_TYPE,
            "'id'"),
        Arguments.of(
            "gsm8k",
            "{\"question\": \"q\", \"answer\": \"no final line\"}",
            RejectReason.NO_FINAL_NUMBER,
            "####"),
        Arguments.of(
            "gsm8k", "{\"question\": \"q\", \"answer\": 7}", RejectReason.WRONG_TYPE, "a string"),
        Arguments.of(
            "toolbench",
            "{\"query\": \"q\", \"query_id\": 1, \"api_list\": [{\"tool_name\": \"T\","
                + " \"api_name\": \"A\"}], \"relevant APIs\": [[\"T\", \"B\"]]}",
            RejectReason.UNKNOWN_API,
            "'T :: B'"),
        Arguments.of(
            "toolbench",
            "{\"query\": \"q\", \"query_id\": 1, \"api_list\": [{\"tool_name\": \"T\","
                + " \"api_name\": \"A\"}], \"relevant APIs\": []}",
            RejectReason.EMPTY_ANSWERS,
            "relevant APIs"),
        Arguments.of(
            "toolbench",
            "{\"query\": \"q\", \"query_id\": 1.5, \"api_list\": [], \"relevant APIs\": []}",
            RejectReason.WRONG_TYPE,
            "query_id"));
  }

  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("badUnits")
  void rejectsABadUnitWithItsReason(
      String name, String json, RejectReason reason, String messagePart) {
    InvalidRecordException e =
        assertThrows(
            InvalidRecordException.class,
            () -> Datasets.byName(name).toRecord(unit(json), "f.json", SplitRole.TRAIN, 0.2));
    assertEquals(reason, e.reason(), e.getMessage());
    assertTrue(e.getMessage().contains(messagePart), e.getMessage());
  }

  @Test
  void squadDocumentsExpandToOneUnitPerQuestion() {
    JsonObject article =
        unit(
            "{\"title\": \"T\", \"paragraphs\": [{\"context\": \"c1\", \"qas\": [{\"id\": \"a\"},"
                + " {\"id\": \"b\"}]}, {\"context\": \"c2\", \"qas\": 3}, {\"qas\": [7]}]}");
    List<String> seen = new ArrayList<>();
    Datasets.byName("squad")
        .explode(
            article,
            "data[0]",
            new UnitSink() {
              @Override
              public void unit(JsonObject unit, String position) {
                seen.add(position + " " + unit.get("id").getAsString() + " " + unit.get("context"));
              }

              @Override
              public void reject(String position, RejectReason reason, String message, String raw) {
                seen.add(position + " " + reason);
              }
            });
    assertEquals(
        List.of(
            "data[0].paragraphs[0].qas[0] a \"c1\"",
            "data[0].paragraphs[0].qas[1] b \"c1\"",
            "data[0].paragraphs[1] WRONG_TYPE",
            "data[0].paragraphs[2].qas[0] WRONG_TYPE"),
        seen);
  }

  @Test
  void nqDevIsSplitByHashOnlyWithoutATrainFile() {
    Dataset nq = Datasets.byName("nq_open");
    List<String> official =
        List.of(
            "NQ-open.dev.jsonl",
            "NQ-open.efficientqa.dev.1.1.jsonl",
            "NQ-open.efficientqa.test.1.1.jsonl");
    assertEquals(SplitRole.HASHED, nq.splitRole("NQ-open.dev.jsonl", official));
    assertEquals(SplitRole.TRAIN, nq.splitRole("NQ-open.efficientqa.test.1.1.jsonl", official));
    List<String> hub = List.of("train-00000-of-00001.parquet", "validation-00000-of-00001.parquet");
    assertEquals(SplitRole.TEST, nq.splitRole("validation-00000-of-00001.parquet", hub));
    assertEquals(SplitRole.TRAIN, nq.splitRole("train-00000-of-00001.parquet", hub));
  }

  @Test
  void looksUpByNameOrFolderName() {
    assertEquals("nq", Datasets.byName("NQ_open").name());
    assertEquals(List.of("nq", "squad", "gsm8k", "toolbench"), Datasets.names());
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Datasets.byName("mmlu"));
    assertTrue(e.getMessage().contains("nq, squad, gsm8k, toolbench"), e.getMessage());
  }

  @Test
  void templatesNeedEverySlot() {
    PromptTemplate template = PromptTemplate.of("Q: {question}\nA:");
    assertEquals("Q: x\nA:", template.render(Map.of("question", "x")));
    assertThrows(IllegalArgumentException.class, () -> template.render(Map.of()));
    assertThrows(IllegalArgumentException.class, () -> PromptTemplate.of("no slots"));
  }

  private static JsonObject unit(String json) {
    return JsonParser.parseString(json).getAsJsonObject();
  }
}
