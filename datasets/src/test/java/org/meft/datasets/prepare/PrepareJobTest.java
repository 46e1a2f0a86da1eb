package org.meft.datasets.prepare;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.datasets.StableHash;
import org.meft.datasets.testing.Fixtures;
import org.meft.datasets.testing.LocalSpark;
import org.meft.tokenizer.TextTokenizer;

/**
 * The preparation job on the hand-written fixtures, which hold good records and one of each kind of
 * bad record in the official layouts, and on Parquet files in the Hub's layout written here.
 */
class PrepareJobTest {
  @TempDir static Path dir;
  static SparkSession spark;
  static Path tokenizer;
  static Path fixtures;

  @BeforeAll
  static void start() {
    spark = LocalSpark.session(2);
    tokenizer = Fixtures.tokenizer(dir);
    fixtures = Fixtures.copy(dir.resolve("fixtures"));
    Fixtures.appendInvalidUtf8Line(fixtures.resolve("nq_open/NQ-open.dev.jsonl"));
  }

  private static PrepareConfig config(List<Path> inputs, List<String> datasets, Path output) {
    return new PrepareConfig(inputs, datasets, tokenizer, output, 512, 2, 0.5, false);
  }

  @Test
  void everyRecordIsWrittenOrRejectedWithItsReason() throws IOException {
    Path output = dir.resolve("all");
    PrepareResult result =
        PrepareJob.run(
            spark, config(List.of(fixtures), List.of("nq", "squad", "gsm8k", "toolbench"), output));

    // Hashed splits at test fraction 0.5 (unit values from Python's hashlib): NQ dev's two good
    // questions 0.218 and 0.375 -> test; ToolBench 588 (0.078), 1 (0.431), G2 9 (0.304) -> test,
    // 82217 (0.867) -> train. Rejections before a hashed record has an id have no split (-).
    assertEquals(
        List.of(
            "nq train 2 1",
            "nq test 2 0",
            "nq - 0 7",
            "squad train 2 0",
            "squad test 3 4",
            "gsm8k train 3 3",
            "gsm8k test 2 0",
            "toolbench train 1 0",
            "toolbench test 3 0",
            "toolbench - 0 3"),
        result.splits().stream()
            .map(s -> s.dataset() + " " + s.split() + " " + s.records() + " " + s.rejected())
            .toList());
    assertEquals(36, result.units());
    assertEquals(18, result.records());
    assertEquals(18, result.rejected());

    List<String> rejected = new ArrayList<>();
    for (String line : Files.readAllLines(output.resolve("_rejected/rejected.jsonl"))) {
      JsonObject object = JsonParser.parseString(line).getAsJsonObject();
      String file =
          fixtures.relativize(Path.of(object.get("source_file").getAsString())).toString();
      rejected.add(
          file
              + " "
              + object.get("position").getAsString()
              + " "
              + object.get("reason_code").getAsString());
      assertFalse(object.get("reason").getAsString().isBlank());
    }
    assertEquals(
        List.of(
            "gsm8k/train.jsonl line 4 no_final_number",
            "gsm8k/train.jsonl line 5 missing_field",
            "gsm8k/train.jsonl line 6 wrong_type",
            "nq_open/NQ-open.dev.jsonl line 3 malformed_json",
            "nq_open/NQ-open.dev.jsonl line 4 missing_field",
            "nq_open/NQ-open.dev.jsonl line 6 wrong_type",
            "nq_open/NQ-open.dev.jsonl line 7 empty_answers",
            "nq_open/NQ-open.dev.jsonl line 8 wrong_type",
            "nq_open/NQ-open.dev.jsonl line 9 empty_value",
            "nq_open/NQ-open.dev.jsonl line 10 invalid_utf8",
            "nq_open/NQ-open.efficientqa.dev.1.1.jsonl line 2 duplicate_id",
            "squad/dev-v1.1.json data[0].paragraphs[0].qas[2] answer_not_in_context",
            "squad/dev-v1.1.json data[0].paragraphs[0].qas[3] missing_field",
            "squad/dev-v1.1.json data[0].paragraphs[0].qas[4] empty_answers",
            "squad/dev-v1.1.json data[0].paragraphs[1] wrong_type",
            "toolbench/G1_instruction.json [3] unknown_api",
            "toolbench/G1_instruction.json [4] empty_answers",
            "toolbench/G2_category.json after [0] malformed_json"),
        rejected);

    // The good records, intact: ids, targets and references as the readers made them.
    Dataset<Row> data = spark.read().parquet(output.toString());
    Map<String, String> targets = new TreeMap<>();
    for (Row row : data.select("id", "target", "split").collectAsList()) {
      targets.put(row.getString(0), row.getString(1) + " @" + row.getString(2));
    }
    assertEquals(18, targets.size());
    assertEquals("Thomas Jefferson @test", targets.get("nq-377987a4f2c1419e"));
    assertEquals("Denver Broncos @test", targets.get("56be4db0acb8001400a502ec"));
    assertEquals("France @train", targets.get("recon-train-0-0-0"));
    assertEquals(
        "It sells 1,000*3 = 3,000 pens.\n#### 3,000 @train",
        targets.get(
            "gsm8k-"
                + StableHash.hex16(
                    "A shop sells 1,000 pens a day. How many pens does it sell in 3 days?")));
    assertEquals(
        "TheClique :: Transfermarkt search\n\nTheClique :: Transfermarkt details @test",
        targets.get("toolbench-G1_instruction-588"));

    assertManifestAddsUp(output, result);
    assertShardsSortedById(output);
  }

  private static void assertManifestAddsUp(Path output, PrepareResult result) throws IOException {
    JsonObject manifest =
        JsonParser.parseString(Files.readString(output.resolve("_manifest.json")))
            .getAsJsonObject();
    long units = 0;
    long records = 0;
    long rejected = 0;
    for (JsonElement element : manifest.getAsJsonArray("sources")) {
      JsonObject source = element.getAsJsonObject();
      assertEquals(
          source.get("units").getAsLong(),
          source.get("records").getAsLong() + source.get("rejected").getAsLong(),
          source.get("path").getAsString());
      assertEquals(
          SourceFiles.sha256(Path.of(source.get("path").getAsString())),
          source.get("sha256").getAsString());
      units += source.get("units").getAsLong();
      records += source.get("records").getAsLong();
      rejected += source.get("rejected").getAsLong();
    }
    JsonObject totals = manifest.getAsJsonObject("totals");
    assertEquals(units, totals.get("units").getAsLong());
    assertEquals(records, totals.get("records").getAsLong());
    assertEquals(rejected, totals.get("rejected").getAsLong());
    assertEquals(result.tokens(), totals.get("tokens").getAsLong());
    assertEquals(units, records + rejected);
    long splitRecords = 0;
    for (JsonElement element : manifest.getAsJsonArray("splits")) {
      JsonObject split = element.getAsJsonObject();
      long fileRecords = 0;
      for (JsonElement file : split.getAsJsonArray("files")) {
        Path path = output.resolve(file.getAsJsonObject().get("path").getAsString());
        assertTrue(Files.exists(path), path.toString());
        assertEquals(SourceFiles.sha256(path), file.getAsJsonObject().get("sha256").getAsString());
        fileRecords += file.getAsJsonObject().get("records").getAsLong();
      }
      assertEquals(split.get("records").getAsLong(), fileRecords);
      splitRecords += split.get("records").getAsLong();
    }
    assertEquals(records, splitRecords);
    long byReason = 0;
    for (Map.Entry<String, JsonElement> dataset :
        manifest.getAsJsonObject("rejected").getAsJsonObject("by_reason").entrySet()) {
      for (Map.Entry<String, JsonElement> reason :
          dataset.getValue().getAsJsonObject().entrySet()) {
        byReason += reason.getValue().getAsLong();
      }
    }
    assertEquals(rejected, byReason);
  }

  private static void assertShardsSortedById(Path output) throws IOException {
    try (Stream<Path> files = Files.walk(output)) {
      List<Path> shards = files.filter(p -> p.toString().endsWith(".parquet")).sorted().toList();
      assertFalse(shards.isEmpty());
      for (Path shard : shards) {
        assertTrue(
            shard.getFileName().toString().matches("part-0000[01]-of-0000[12]\\.parquet"),
            shard.toString());
        List<String> ids =
            spark.read().parquet(shard.toString()).select("id").collectAsList().stream()
                .map(row -> row.getString(0))
                .toList();
        assertEquals(ids.stream().sorted().toList(), ids, shard.toString());
      }
    }
  }

  @Test
  void readsTheHubsParquetExports() throws IOException {
    Path hub = dir.resolve("hub");
    StructType nqSchema =
        new StructType()
            .add("question", DataTypes.StringType)
            .add("answer", DataTypes.createArrayType(DataTypes.StringType));
    writeParquet(
        hub.resolve("nq_open/nq_open/validation-00000-of-00001.parquet"),
        nqSchema,
        List.of(
            RowFactory.create("who wrote hamlet", List.of("Shakespeare", "William Shakespeare")),
            RowFactory.create("who has no answer", List.of())));
    StructType answers =
        new StructType()
            .add("text", DataTypes.createArrayType(DataTypes.StringType))
            .add("answer_start", DataTypes.createArrayType(DataTypes.IntegerType));
    StructType squadSchema =
        new StructType()
            .add("id", DataTypes.StringType)
            .add("title", DataTypes.StringType)
            .add("context", DataTypes.StringType)
            .add("question", DataTypes.StringType)
            .add("answers", answers);
    writeParquet(
        hub.resolve("squad/plain_text/validation-00000-of-00001.parquet"),
        squadSchema,
        List.of(
            RowFactory.create(
                "h1",
                "Warsaw",
                "Warsaw is the capital of Poland.",
                "What is the capital of Poland?",
                RowFactory.create(List.of("Warsaw", "Warsaw"), List.of(0, 0))),
            RowFactory.create(
                "h2",
                "Warsaw",
                "Warsaw is the capital of Poland.",
                "What is the capital of France?",
                RowFactory.create(List.of("Paris"), List.of(0)))));
    StructType gsmSchema =
        new StructType().add("question", DataTypes.StringType).add("answer", DataTypes.StringType);
    writeParquet(
        hub.resolve("gsm8k/main/train-00000-of-00001.parquet"),
        gsmSchema,
        List.of(
            RowFactory.create("What is 6 times 7?", "6*7 = <<6*7=42>>42\n#### 42"),
            RowFactory.create("What is nothing?", "nothing at all")));

    Path output = dir.resolve("hub-out");
    PrepareResult result =
        PrepareJob.run(
            spark,
            new PrepareConfig(
                List.of(
                    hub.resolve("nq_open/nq_open"),
                    hub.resolve("squad/plain_text"),
                    hub.resolve("gsm8k/main/train-00000-of-00001.parquet")),
                List.of("nq", "squad", "gsm8k"),
                tokenizer,
                output,
                512,
                1,
                0.0,
                false));
    assertEquals(
        List.of("nq train 1 0", "nq - 0 1", "squad test 1 1", "gsm8k train 1 1"),
        result.splits().stream()
            .map(s -> s.dataset() + " " + s.split() + " " + s.records() + " " + s.rejected())
            .toList());
    List<String> rejected =
        Files.readAllLines(output.resolve("_rejected/rejected.jsonl")).stream()
            .map(line -> JsonParser.parseString(line).getAsJsonObject())
            .map(o -> o.get("position").getAsString() + " " + o.get("reason_code").getAsString())
            .toList();
    assertEquals(
        List.of("row 1 no_final_number", "row 1 empty_answers", "row 1 answer_not_in_context"),
        rejected);
    Row squad = spark.read().parquet(output.toString()).filter("dataset = 'squad'").first();
    assertEquals("h1", squad.getAs("id"));
    assertEquals(List.of("Warsaw", "Warsaw"), squad.getList(squad.fieldIndex("references")));
    assertEquals(Map.of("title", "Warsaw"), squad.getJavaMap(squad.fieldIndex("extras")));
  }

  private static void writeParquet(Path file, StructType schema, List<Row> rows)
      throws IOException {
    Path scratch = dir.resolve("scratch-" + System.nanoTime());
    spark.createDataFrame(rows, schema).coalesce(1).write().parquet(scratch.toString());
    Files.createDirectories(file.getParent());
    try (Stream<Path> parts = Files.list(scratch)) {
      Path part =
          parts
              .filter(p -> p.getFileName().toString().endsWith(".parquet"))
              .findFirst()
              .orElseThrow();
      Files.move(part, file);
    }
  }

  @Test
  void targetsLongerThanTheMaximumAreRejectedNotCut() throws IOException {
    Path gsm8k = fixtures.resolve("gsm8k");
    List<Integer> needed = new ArrayList<>();
    try (TextTokenizer reference = TextTokenizer.open(tokenizer)) {
      for (String line : Files.readAllLines(gsm8k.resolve("train.jsonl")).subList(0, 3)) {
        String solution =
            JsonParser.parseString(line).getAsJsonObject().get("answer").getAsString();
        needed.add(reference.encode(solution.replaceAll("<<[^<>]*>>", "")).length + 2);
      }
      for (String line : Files.readAllLines(gsm8k.resolve("test.jsonl"))) {
        String solution =
            JsonParser.parseString(line).getAsJsonObject().get("answer").getAsString();
        needed.add(reference.encode(solution.replaceAll("<<[^<>]*>>", "")).length + 2);
      }
    }
    int maxLength =
        Math.max(PrepareConfig.MIN_MAX_LENGTH, needed.stream().sorted().toList().get(2));
    long tooLong = needed.stream().filter(n -> n > maxLength).count();
    assertTrue(tooLong > 0 && tooLong < needed.size(), needed + " at " + maxLength);

    Path output = dir.resolve("short");
    PrepareResult result =
        PrepareJob.run(
            spark,
            new PrepareConfig(
                List.of(gsm8k), List.of("gsm8k"), tokenizer, output, maxLength, 1, 0.2, false));
    assertEquals(needed.size() - tooLong, result.records());
    assertEquals(3 + tooLong, result.rejected(), "3 bad lines plus the targets that cannot fit");
    long tooLongRejected =
        Files.readAllLines(output.resolve("_rejected/rejected.jsonl")).stream()
            .filter(line -> line.contains("\"target_too_long\""))
            .count();
    assertEquals(tooLong, tooLongRejected);
    for (Row row : spark.read().parquet(output.toString()).collectAsList()) {
      assertTrue(row.<Integer>getAs("length") <= maxLength);
    }
  }

  @Test
  void refusesAnExistingOutputUnlessToldToReplaceIt() throws IOException {
    Path input = fixtures.resolve("gsm8k/test.jsonl");
    Path output = dir.resolve("rerun");
    PrepareConfig first = config(List.of(input), List.of("gsm8k"), output);
    PrepareJob.run(spark, first);
    Files.writeString(output.resolve("marker"), "from the first run");

    IllegalArgumentException refused =
        assertThrows(IllegalArgumentException.class, () -> PrepareJob.run(spark, first));
    assertTrue(refused.getMessage().contains("--overwrite"), refused.getMessage());
    assertTrue(Files.exists(output.resolve("marker")), "the refused run changed nothing");

    PrepareConfig replace =
        new PrepareConfig(List.of(input), List.of("gsm8k"), tokenizer, output, 512, 1, 0.2, true);
    PrepareJob.run(spark, replace);
    assertFalse(Files.exists(output.resolve("marker")), "replaced whole, nothing of the old run");
    assertTrue(Files.exists(output.resolve("_manifest.json")));
    try (Stream<Path> siblings = Files.list(dir)) {
      assertTrue(
          siblings.noneMatch(p -> p.getFileName().toString().contains(".tmp-")),
          "no temporary directory is left behind");
    }

    Path unrelated = Files.createDirectories(dir.resolve("unrelated"));
    PrepareConfig clobber =
        new PrepareConfig(
            List.of(input), List.of("gsm8k"), tokenizer, unrelated, 512, 1, 0.2, true);
    IllegalArgumentException notOurs =
        assertThrows(IllegalArgumentException.class, () -> PrepareJob.run(spark, clobber));
    assertTrue(notOurs.getMessage().contains("not a prepared dataset"), notOurs.getMessage());
  }

  @Test
  void failsClearlyWhenNothingValidIsLeftOrTheInputIsMissing() throws IOException {
    Path bad = Files.createDirectories(dir.resolve("bad/gsm8k")).resolve("train.jsonl");
    Files.writeString(bad, "{\"question\": \"q\"}\nnot json\n");
    Path output = dir.resolve("nothing");
    IllegalArgumentException nothing =
        assertThrows(
            IllegalArgumentException.class,
            () -> PrepareJob.run(spark, config(List.of(bad), List.of("gsm8k"), output)));
    assertTrue(
        nothing.getMessage().startsWith("nothing valid to prepare: all 2 records were rejected"),
        nothing.getMessage());
    assertTrue(nothing.getMessage().contains("missing_field=1"), nothing.getMessage());
    assertFalse(Files.exists(output));

    IllegalArgumentException missing =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                PrepareJob.run(
                    spark, config(List.of(dir.resolve("nowhere")), List.of("gsm8k"), output)));
    assertTrue(missing.getMessage().startsWith("input not found"), missing.getMessage());
    IllegalArgumentException noFiles =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                PrepareJob.run(
                    spark,
                    config(List.of(fixtures.resolve("gsm8k")), List.of("gsm8k", "nq"), output)));
    assertTrue(noFiles.getMessage().contains("dataset 'nq'"), noFiles.getMessage());
  }

  @Test
  void theSameInputsGiveTheSameBytesWhateverTheOrderAndPartitioning() throws IOException {
    Path a = dir.resolve("order-a");
    PrepareJob.run(
        spark, config(List.of(fixtures), List.of("nq", "squad", "gsm8k", "toolbench"), a));
    List<Path> files = new ArrayList<>();
    for (String folder : List.of("toolbench", "gsm8k", "squad", "nq_open")) {
      try (Stream<Path> listing = Files.list(fixtures.resolve(folder))) {
        files.addAll(listing.sorted(java.util.Comparator.reverseOrder()).toList());
      }
    }
    String partitions = spark.conf().get("spark.sql.shuffle.partitions");
    spark.conf().set("spark.sql.shuffle.partitions", "7");
    try {
      PrepareJob.run(
          spark,
          config(files, List.of("toolbench", "gsm8k", "squad", "nq"), dir.resolve("order-b")));
    } finally {
      spark.conf().set("spark.sql.shuffle.partitions", partitions);
    }
    assertEquals(Trees.digest(a), Trees.digest(dir.resolve("order-b")));
  }
}
