package org.meft.jobs.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.jobs.SparkSessions;
import org.meft.jobs.evaluate.Predictions;
import org.meft.jobs.evaluate.PredictionsManifest;
import org.meft.jobs.train.RunMetrics;
import org.meft.jobs.train.TrainSweepJob;

/**
 * The report on hand-made predictions and metrics (no training): a prediction that broke it (the İ
 * case), zero latencies and a run without training metrics; and {@code score} on a file with its
 * own references.
 */
class ReportAndScoreTest {
  private static final Double FORGETTING_KL = 0.125;
  private static final Double FORGETTING_CHANGED = 0.5;
  @TempDir static Path dir;
  static SparkSession spark;

  @BeforeAll
  static void open() {
    spark = SparkSessions.open("test", "local[1]");
  }

  @AfterAll
  static void close() throws IOException {
    spark.close();
  }

  @Test
  void aStrangePredictionZeroLatencyAndNoTrainingMetricsDoNotBreakTheReport() throws IOException {
    Path runs = dir.resolve("runs");
    writeMetrics(runs);
    String[] texts = {"İİİİ The answer is 72", "#### 72", "#### 5", "İİİİ The answer is 72 and 5"};
    Path predicted = dir.resolve("predictions");
    writePredictions(predicted, "test", texts, true);

    Path output = dir.resolve("report");
    List<Row> rows = ReportJob.run(spark, runs, predicted, output);
    assertEquals(1, rows.size());
    Row row = rows.get(0);
    assertEquals("exact_match,strict-match", row.getAs("metric"));
    assertEquals(0.25, row.<Double>getAs("quality"), 1e-15);
    assertEquals(0.5, row.<Double>getAs("exact_match_flexible"), 1e-15);
    assertEquals(0.75, row.<Double>getAs("accuracy_lenient"), 1e-15);
    assertEquals(2L, row.<Long>getAs("unparsed"));
    assertTrue(row.isNullAt(row.fieldIndex("decode_tokens_per_second")));
    assertTrue(row.isNullAt(row.fieldIndex("latency_ms_mean")));
    assertEquals(FORGETTING_KL, row.<Double>getAs("forgetting_kl"));
    assertEquals(FORGETTING_CHANGED, row.<Double>getAs("forgetting_changed"));

    String table = MarkdownTable.of(rows);
    assertTrue(table.contains("| 0.1250 / 50.0% "), table);
    assertFalse(table.contains("null"), table);
    assertFalse(table.contains("nul"), table);

    List<Row> perExample =
        spark
            .read()
            .parquet(output.resolve(ReportJob.SCORES).toString())
            .orderBy("id")
            .collectAsList();
    assertEquals(4, perExample.size());
    assertEquals(1, perExample.get(0).<Integer>getAs("unparsed"));
    assertEquals(1.0, perExample.get(1).<Double>getAs("exact_match_strict"));
  }

  @Test
  void theReportScoresEachSplitOnItsOwnRow() throws IOException {
    Path runs = dir.resolve("split-runs");
    writeMetrics(runs);
    Path test = dir.resolve("split-test");
    writePredictions(test, "test", new String[] {"#### 5", "#### 5", "#### 72", "#### 5"}, true);
    Path train = dir.resolve("split-train");
    writePredictions(
        train, "train", new String[] {"#### 72", "#### 72", "#### 72", "#### 5"}, false);
    List<Row> rows = ReportJob.run(spark, runs, List.of(test, train), dir.resolve("split-report"));
    assertEquals(2, rows.size());
    Map<String, Double> quality = new java.util.TreeMap<>();
    Map<String, Boolean> forgettingMeasured = new java.util.TreeMap<>();
    for (Row row : rows) {
      quality.put(row.getAs("split"), row.<Double>getAs("quality"));
      forgettingMeasured.put(row.getAs("split"), !row.isNullAt(row.fieldIndex("forgetting_kl")));
      assertEquals(4L, row.<Long>getAs("examples_evaluated"));
    }
    assertEquals(Map.of("test", 0.25, "train", 0.75), quality);
    // Each split's row has what its own evaluation measured.
    assertEquals(Map.of("test", true, "train", false), forgettingMeasured);
    assertTrue(MarkdownTable.of(rows).contains("| train "), MarkdownTable.of(rows));
  }

  /** The training metrics of one run, gsm8k-lora, with nothing measured but its identity. */
  private static void writeMetrics(Path runs) {
    Object[] metrics = new Object[RunMetrics.SCHEMA.size()];
    Map<String, Object> known =
        Map.ofEntries(
            Map.entry("run_id", "gsm8k-lora"),
            Map.entry("dataset", "gsm8k"),
            Map.entry("method", "lora"),
            Map.entry("reversible", "none"),
            Map.entry("model", "m"),
            Map.entry("run_dir", "r"),
            Map.entry("examples", 4),
            Map.entry("examples_too_long", 0),
            Map.entry("device", "cpu"),
            Map.entry("executor", "driver"),
            Map.entry("attempt", 0),
            Map.entry("resumed_from_step", 0),
            Map.entry("wall_seconds", 1.0),
            Map.entry("losses", scala.jdk.javaapi.CollectionConverters.asScala(List.of()).toSeq()),
            Map.entry("phase_ms", scala.collection.immutable.Map$.MODULE$.empty()),
            Map.entry("settings", "{}"));
    for (int i = 0; i < metrics.length; i++) {
      metrics[i] = known.get(RunMetrics.SCHEMA.fields()[i].name());
    }
    spark
        .createDataFrame(List.of(RowFactory.create(metrics)), RunMetrics.SCHEMA)
        .write()
        .parquet(runs.resolve(TrainSweepJob.METRICS).toString());
  }

  /**
   * Predictions of gsm8k-lora for examples g0, g1, ... of {@code split}, all referencing 72; when
   * {@code forgetting}, the first carries the run's forgetting, as a run's first slice does.
   */
  private static void writePredictions(
      Path folder, String split, String[] texts, boolean forgetting) {
    List<Row> predictions = new ArrayList<>();
    for (int i = 0; i < texts.length; i++) {
      predictions.add(
          RowFactory.create(
              "gsm8k-lora",
              "gsm8k",
              split,
              "g" + i,
              texts[i],
              scala.jdk.javaapi.CollectionConverters.asScala(List.of("72")).toSeq(),
              10,
              5,
              "eos",
              0.0,
              0.0,
              forgetting && i == 0 ? FORGETTING_KL : null,
              forgetting && i == 0 ? FORGETTING_CHANGED : null));
    }
    spark.createDataFrame(predictions, Predictions.SCHEMA).write().parquet(folder.toString());
    PredictionsManifest.write(folder);
  }

  @Test
  void scoresAFileWithItsOwnReferences() throws IOException {
    Path input = dir.resolve("squad.jsonl");
    Files.writeString(
        input,
        "{\"id\": \"a\", \"prediction\": \"The Denver Broncos\","
            + " \"references\": [\"Denver Broncos\"]}\n"
            + "{\"id\": \"b\", \"prediction\": \"Broncos of Denver\","
            + " \"references\": [\"Denver Broncos\"]}\n"
            + "{\"id\": \"c\", \"prediction\": \"x\"}\n",
        StandardCharsets.UTF_8);
    Path output = dir.resolve("scored");
    ScoreJob.Result result = ScoreJob.run(spark, input, "squad", null, output);
    assertEquals(2, result.examples());
    assertEquals(0.5, result.means()[0], 1e-15);
    assertEquals(0.9, result.means()[1], 1e-15);
    assertEquals(List.of("c"), result.unknown());
    assertEquals(2, Files.readAllLines(output.resolve(ScoreJob.JSONL)).size());
    String table = ScoreJob.table(result);
    assertTrue(table.contains("| squad | exact_match | 0.5000 |"), table);
    assertTrue(table.contains("unknown"), table);
  }

  @Test
  void scoresEachRowWithItsOwnReferenceTypeAndCountsANullPredictionAsMissing() throws IOException {
    Path input = dir.resolve("mixed.jsonl");
    Files.writeString(
        input,
        "{\"id\":\"m1\",\"prediction\":\"Paris\",\"references\":[\"Paris\",\"City of Light\"]}\n"
            + "{\"id\":\"m2\",\"prediction\":\"Paris\",\"references\":\"Paris\"}\n"
            + "{\"id\":\"m3\",\"prediction\":42,\"references\":[\"42\"]}\n"
            + "{\"id\":\"m4\",\"prediction\":null,\"references\":[\"x\"]}\n",
        StandardCharsets.UTF_8);
    ScoreJob.Result result = ScoreJob.run(spark, input, "squad", null, dir.resolve("mixed"));
    assertEquals(4, result.examples());
    assertEquals(0.75, result.means()[0], 1e-15, "m1, m2 and m3 match; m4 has no prediction");
    assertEquals(List.of("m4"), result.missing());
  }

  @Test
  void refusesPredictionsThatLostAPartOrHoldNone() throws IOException {
    Path runs = dir.resolve("lost-runs");
    writeMetrics(runs);
    Path predicted = dir.resolve("lost-predictions");
    writePredictions(predicted, "test", new String[] {"#### 72", "#### 5"}, false);
    try (var parts = Files.list(predicted)) {
      Path part = parts.filter(p -> p.toString().endsWith(".parquet")).findFirst().orElseThrow();
      Files.delete(part);
    }
    String lost =
        assertThrows(
                IllegalArgumentException.class,
                () -> ReportJob.run(spark, runs, predicted, dir.resolve("lost-report")))
            .getMessage();
    assertTrue(lost.contains("the predictions are incomplete"), lost);
    assertFalse(Files.exists(dir.resolve("lost-report").resolve(ReportJob.CSV)));

    Path empty = Files.createDirectories(dir.resolve("empty-predictions"));
    String none =
        assertThrows(
                IllegalArgumentException.class,
                () -> ReportJob.run(spark, runs, empty, dir.resolve("empty-report")))
            .getMessage();
    assertEquals(empty + " holds no predictions (no .parquet parts): run evaluate", none);
  }
}
