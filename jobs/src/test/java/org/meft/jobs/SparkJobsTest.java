package org.meft.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.meft.adapter.InstalledAdapters;
import org.meft.checkpoint.AdapterCheckpoint;
import org.meft.datasets.Datasets;
import org.meft.datasets.Split;
import org.meft.datasets.prepare.OutputDirectory;
import org.meft.datasets.prepare.PrepareConfig;
import org.meft.datasets.prepare.PrepareJob;
import org.meft.datasets.prepare.PreparedRecord;
import org.meft.datasets.prepare.PreparedShards;
import org.meft.generate.Generator;
import org.meft.jobs.MainTest.Result;
import org.meft.jobs.demo.DemoData;
import org.meft.jobs.evaluate.Decoding;
import org.meft.jobs.evaluate.EvaluateJob;
import org.meft.jobs.evaluate.ExecutorModels;
import org.meft.jobs.evaluate.PredictionsManifest;
import org.meft.jobs.report.ReportJob;
import org.meft.jobs.testing.StandaloneCluster;
import org.meft.jobs.train.Sweep;
import org.meft.jobs.train.SweepRun;
import org.meft.load.LanguageModel;
import org.meft.tokenizer.SequenceLayout;

/**
 * train-sweep, evaluate and report through the command line on local Spark: what they write, the
 * report's scores recomputed here from the predictions, and one clear error line for each kind of
 * bad input.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SparkJobsTest {
  /** The report's columns, as docs/guides/pipeline.md documents them. */
  static final List<String> RESULT_COLUMNS =
      List.of(
          "run_id",
          "dataset",
          "method",
          "adapter_size",
          "lora_rank",
          "reversible",
          "split",
          "metric",
          "quality",
          "exact_match",
          "f1",
          "exact_match_strict",
          "exact_match_flexible",
          "accuracy_lenient",
          "iou",
          "iou_lenient",
          "examples_evaluated",
          "unparsed",
          "forgetting_kl",
          "forgetting_changed",
          "trainable_params",
          "device_adapter_bytes_peak",
          "host_store_bytes",
          "train_tokens_per_second",
          "h2d_bytes_per_step",
          "d2h_bytes_per_step",
          "mean_rows_per_layer",
          "mean_distinct_rows_per_layer",
          "kept_choice_fraction",
          "rows_updated_fraction",
          "mean_updates_per_updated_row",
          "expert_load_entropy",
          "activation_bytes_kept",
          "recompute_share",
          "initial_loss",
          "final_loss",
          "steps",
          "train_examples",
          "device",
          "attempt",
          "train_seconds",
          "decode_tokens_per_second",
          "latency_ms_mean");

  @TempDir static Path dir;
  static Path model;
  static Path prepared;
  static Path sweep;

  @BeforeAll
  static void prepare() throws IOException {
    model = MainTest.tinyModel(dir.resolve("model"));
    prepared = dir.resolve("prepared");
    try (SparkSession spark = SparkSessions.open("test", "local[2]")) {
      PrepareJob.run(
          spark,
          new PrepareConfig(
              List.of(DemoData.writeEmbedded(dir.resolve("raw"))),
              List.of("nq", "gsm8k"),
              model.resolve("tokenizer.json"),
              prepared,
              64,
              1,
              0.25,
              false));
    }
    sweep = dir.resolve("sweep.json");
    Files.writeString(
        sweep,
        "{\"model\": \"model\", \"steps\": 4, \"batch-size\": 2, \"lr\": 0.01, \"max-length\": 64,"
            + " \"checkpoint-every\": 2, \"runs\": ["
            + "{\"dataset\": \"nq\", \"method\": \"meft\", \"adapter-size\": 64, \"top-k\": 8,"
            + " \"probes\": 2, \"max-rows\": 32},"
            + "{\"dataset\": \"gsm8k\", \"method\": \"lora\", \"lora-rank\": 4, \"max-examples\": 3},"
            + "{\"dataset\": \"nq\", \"method\": \"lora\", \"lora-rank\": 2,"
            + " \"reversible\": \"meft1\", \"rev-layers\": 1}]}\n");
  }

  @Test
  @Order(1)
  void sweepFilesResolveDefaultsIdsAndPaths() {
    List<SweepRun> runs = Sweep.read(sweep, prepared);
    assertEquals(
        List.of("nq-meft", "gsm8k-lora", "nq-lora"), runs.stream().map(SweepRun::id).toList());
    SweepRun lora = runs.get(1);
    assertEquals(3, lora.maxExamples());
    assertEquals(model.toAbsolutePath().normalize().toString(), lora.settings().get("model"));
    assertEquals("4", lora.settings().get("steps"));
    assertEquals(
        prepared.toAbsolutePath().resolve("dataset=gsm8k/split=train").toString(),
        lora.settings().get("data"));
  }

  @Test
  @Order(2)
  void trainEvaluateReport() throws IOException {
    Path runs = dir.resolve("runs");
    Result trained =
        MainTest.meft(
            "train-sweep",
            "--prepared",
            prepared.toString(),
            "--sweep",
            sweep.toString(),
            "--output",
            runs.toString(),
            "--master",
            "local[2]");
    assertEquals(0, trained.code(), trained.err());
    assertEquals(3, trained.out().lines().count(), trained.out());
    assertTrue(trained.out().startsWith("nq-meft"), trained.out());
    for (String id : List.of("nq-meft", "gsm8k-lora", "nq-lora")) {
      Path runDir = runs.resolve("runs").resolve(id);
      assertEquals(
          AdapterCheckpoint.directoryName(4),
          AdapterCheckpoint.latest(runDir).orElseThrow().getFileName().toString());
      assertTrue(Files.readString(runDir.resolve("train.log")).contains("attempt 0"));
    }
    assertEquals(3, Files.readAllLines(runs.resolve("metrics.jsonl")).size());
    assertTrue(Files.exists(runs.resolve("sweep.json")));

    Path predictions = dir.resolve("predictions");
    Result evaluated =
        MainTest.meft(
            "evaluate",
            "--prepared",
            prepared.toString(),
            "--runs",
            runs.toString(),
            "--output",
            predictions.toString(),
            "--max-new-tokens",
            "6",
            "--slice-size",
            "3",
            "--master",
            "local[2]");
    assertEquals(0, evaluated.code(), evaluated.err());
    // nq and gsm8k each have 4 test examples; three runs.
    assertEquals("12 predictions written to " + predictions + "\n", evaluated.out());
    assertTrue(PredictionsManifest.check(predictions), "evaluate writes its parts' manifest");

    Path report = dir.resolve("report");
    Result reported =
        MainTest.meft(
            "report",
            "--runs",
            runs.toString(),
            "--predictions",
            predictions.toString(),
            "--output",
            report.toString(),
            "--master",
            "local[2]");
    assertEquals(0, reported.code(), reported.err());
    List<String> table = reported.out().lines().toList();
    assertEquals(2 + 3, table.size(), reported.out());
    assertEquals(List.of("dataset", "method", "run"), cells(table.get(0)).subList(0, 3));
    assertEquals(List.of("nq", "meft", "nq-meft"), cells(table.get(2)).subList(0, 3));
    assertEquals(List.of("nq", "lora", "nq-lora"), cells(table.get(3)).subList(0, 3));
    assertEquals(List.of("gsm8k", "lora", "gsm8k-lora"), cells(table.get(4)).subList(0, 3));

    List<String> csv = Files.readAllLines(report.resolve(ReportJob.CSV), StandardCharsets.UTF_8);
    assertEquals(String.join(",", RESULT_COLUMNS), csv.get(0));
    assertEquals(4, csv.size());

    // The report's quality, recomputed here from the predictions with the datasets' metrics.
    Map<String, List<Double>> scores = new HashMap<>();
    try (SparkSession spark = SparkSessions.open("test", "local[1]")) {
      for (Row row : spark.read().parquet(predictions.toString()).collectAsList()) {
        double first =
            Datasets.byName(row.getAs("dataset"))
                .score(row.getAs("prediction"), row.getList(row.fieldIndex("references")))[0];
        scores.computeIfAbsent(row.getAs("run_id"), k -> new ArrayList<>()).add(first);
      }
    }
    for (String line : csv.subList(1, csv.size())) {
      // RFC 4180: GSM8K's metric, "exact_match,strict-match", is a quoted cell with a comma.
      String[] cells = csvCells(line);
      String run = cells[0];
      double expected =
          scores.get(run).stream().mapToDouble(Double::doubleValue).average().orElseThrow();
      assertEquals(
          expected, Double.parseDouble(cells[RESULT_COLUMNS.indexOf("quality")]), 1e-12, run);
      assertEquals("4", cells[RESULT_COLUMNS.indexOf("examples_evaluated")], run);
      assertEquals("cpu", cells[RESULT_COLUMNS.indexOf("device")], run);
      assertEquals("4", cells[RESULT_COLUMNS.indexOf("steps")], run);
    }
    assertTrue(csv.get(1).contains(",meft,64,,none,test,exact_match,"), csv.get(1));
    // The reversible run's mode and what it kept and recomputed, beside an ordinary run's.
    Map<String, String[]> byRun = new HashMap<>();
    for (String line : csv.subList(1, csv.size())) {
      String[] cells = csvCells(line);
      byRun.put(cells[0], cells);
    }
    String[] reversible = byRun.get("nq-lora");
    String[] ordinary = byRun.get("gsm8k-lora");
    assertEquals("meft1", reversible[RESULT_COLUMNS.indexOf("reversible")]);
    assertEquals("none", ordinary[RESULT_COLUMNS.indexOf("reversible")]);
    int kept = RESULT_COLUMNS.indexOf("activation_bytes_kept");
    int recompute = RESULT_COLUMNS.indexOf("recompute_share");
    assertTrue(Long.parseLong(reversible[kept]) > 0, reversible[kept]);
    assertTrue(Double.parseDouble(reversible[recompute]) > 0, reversible[recompute]);
    assertEquals(0.0, Double.parseDouble(ordinary[recompute]), ordinary[recompute]);

    // Every run's forgetting, measured once: on the rows of its first slice (3 examples).
    int forgettingKl = RESULT_COLUMNS.indexOf("forgetting_kl");
    int forgettingChanged = RESULT_COLUMNS.indexOf("forgetting_changed");
    double largestKl = 0;
    for (String[] cells : byRun.values()) {
      double kl = Double.parseDouble(cells[forgettingKl]);
      double changed = Double.parseDouble(cells[forgettingChanged]);
      assertTrue(Double.isFinite(kl) && kl >= 0, cells[0] + ": KL " + kl);
      assertTrue(changed >= 0 && changed <= 1, cells[0] + ": changed " + changed);
      largestKl = Math.max(largestKl, kl);
    }
    assertTrue(largestKl > 0, "no trained adapter moved the base's distributions");
    try (SparkSession spark = SparkSessions.open("test", "local[1]")) {
      List<Row> measured =
          spark
              .read()
              .parquet(predictions.toString())
              .where("forgetting_kl IS NOT NULL")
              .groupBy("run_id")
              .agg(
                  org.apache.spark.sql.functions.count("*"),
                  org.apache.spark.sql.functions.countDistinct("forgetting_kl"))
              .collectAsList();
      assertEquals(3, measured.size(), measured.toString());
      for (Row row : measured) {
        assertEquals(3L, row.getLong(1), row.toString());
        assertEquals(1L, row.getLong(2), row.toString());
      }
    }

    // A sweep trained and evaluated by an earlier build, without those columns, still reports
    // (mode "none", the rest empty).
    Path earlier = dir.resolve("earlier-build");
    Path earlierPredictions = dir.resolve("earlier-predictions");
    try (SparkSession spark = SparkSessions.open("test", "local[1]")) {
      spark
          .read()
          .parquet(runs.resolve("metrics").toString())
          .drop("reversible", "activation_bytes_kept", "recompute_share")
          .write()
          .parquet(earlier.resolve("metrics").toString());
      spark
          .read()
          .parquet(predictions.toString())
          .drop("forgetting_kl", "forgetting_changed")
          .write()
          .parquet(earlierPredictions.toString());
    }
    Result old =
        MainTest.meft(
            "report",
            "--runs",
            earlier.toString(),
            "--predictions",
            earlierPredictions.toString(),
            "--output",
            dir.resolve("report-earlier").toString());
    assertEquals(0, old.code(), old.err());
    List<String> oldCsv =
        Files.readAllLines(
            dir.resolve("report-earlier").resolve(ReportJob.CSV), StandardCharsets.UTF_8);
    assertEquals(String.join(",", RESULT_COLUMNS), oldCsv.get(0));
    for (String line : oldCsv.subList(1, oldCsv.size())) {
      String[] cells = csvCells(line);
      assertEquals("none", cells[RESULT_COLUMNS.indexOf("reversible")], line);
      assertEquals("", cells[kept], line);
      assertEquals("", cells[forgettingKl], line);
      assertEquals("", cells[forgettingChanged], line);
    }

    // Predictions of runs the sweep does not list are refused, naming them.
    Path oneRun = dir.resolve("one-run");
    try (SparkSession spark = SparkSessions.open("test", "local[1]")) {
      spark
          .read()
          .parquet(runs.resolve("metrics").toString())
          .filter("run_id = 'nq-meft'")
          .write()
          .parquet(oneRun.resolve("metrics").toString());
    }
    Result strangers =
        MainTest.meft(
            "report",
            "--runs",
            oneRun.toString(),
            "--predictions",
            predictions.toString(),
            "--output",
            dir.resolve("report2").toString());
    assertOneError(strangers, "report", "does not list: [gsm8k-lora, nq-lora]");

    Result again =
        MainTest.meft(
            "train-sweep",
            "--prepared",
            prepared.toString(),
            "--sweep",
            sweep.toString(),
            "--output",
            runs.toString());
    assertOneError(again, "train-sweep", "already holds a finished sweep");
  }

  @Test
  @Order(3)
  void badSweepsAreOneClearError() throws IOException {
    Path bad = dir.resolve("bad.json");
    Files.writeString(
        bad,
        "{\"model\": \"model\", \"runs\": [{\"dataset\": \"nq\", \"method\":"
            + " \"meft\", \"steps\": 2, \"batch-size\": 1, \"lr\": 0.1, \"bogus\": 1}]}");
    assertOneError(sweep(bad), "train-sweep", "runs[0] ('nq-meft'): unknown setting 'bogus'");

    Files.writeString(
        bad,
        "{\"model\": \"model\", \"runs\": [{\"dataset\": \"squad\", \"method\":"
            + " \"lora\", \"steps\": 2, \"batch-size\": 1, \"lr\": 0.1}]}");
    assertOneError(sweep(bad), "train-sweep", "no train shards for dataset 'squad'");

    Files.writeString(bad, "{\"runs\": []}");
    assertOneError(sweep(bad), "train-sweep", "\"runs\" must be a non-empty array");

    Path otherModel = MainTest.tinyModel(dir.resolve("other-model"));
    Files.writeString(
        otherModel.resolve("tokenizer.json"),
        Files.readString(otherModel.resolve("tokenizer.json")) + " ");
    Files.writeString(
        bad,
        "{\"model\": \"other-model\", \"runs\": [{\"dataset\": \"nq\", \"method\":"
            + " \"lora\", \"steps\": 2, \"batch-size\": 1, \"lr\": 0.1}]}");
    assertOneError(sweep(bad), "train-sweep", "prepare the data again with --tokenizer");

    assertEquals(2, MainTest.meft("train-sweep", "--prepared", prepared.toString()).code());
    Result noRuns =
        MainTest.meft(
            "evaluate",
            "--prepared",
            prepared.toString(),
            "--runs",
            dir.resolve("nowhere").toString(),
            "--output",
            dir.resolve("p2").toString());
    assertOneError(noRuns, "evaluate", "holds no finished sweep");
    assertThrows(
        IllegalArgumentException.class, () -> Sweep.read(dir.resolve("none.json"), prepared));
    assertFalse(Files.exists(dir.resolve("p2")));
  }

  /**
   * Twelve slices of three runs on one single-slot executor load the base model once and each
   * adapter once; the predictions of a sampled evaluation are those of a freshly loaded model and
   * adapter per run, and do not depend on the slicing, the decode batch or the executor's slots.
   */
  @Test
  @Order(4)
  void evaluationLoadsEachModelOncePerExecutorAndSamplesPerExample() throws IOException {
    Path runs = dir.resolve("runs");
    Decoding sampled = new Decoding(1, 0.8f, 0.9f, 7);
    Map<String, String> bySlice;
    int baseLoads = ExecutorModels.baseLoads();
    int adapterLoads = ExecutorModels.adapterLoads();
    try (SparkSession spark = SparkSessions.open("test", "local[1]")) {
      bySlice =
          predictions(
              EvaluateJob.run(
                  spark,
                  prepared,
                  runs,
                  dir.resolve("sampled-1"),
                  new EvaluateJob.Config(6, 0, 1, sampled)));
    }
    assertEquals(12, bySlice.size());
    assertEquals(1, ExecutorModels.baseLoads() - baseLoads);
    assertEquals(3, ExecutorModels.adapterLoads() - adapterLoads);

    Map<String, String> batched;
    try (SparkSession spark = SparkSessions.open("test", "local[2]")) {
      // No forgetting measured this time: it changes no prediction.
      org.apache.spark.sql.Dataset<Row> unmeasured =
          EvaluateJob.run(
              spark,
              prepared,
              runs,
              dir.resolve("sampled-2"),
              new EvaluateJob.Config(6, 0, 4, new Decoding(3, 0.8f, 0.9f, 7), Split.TEST, 0));
      batched = predictions(unmeasured);
      assertEquals(0, unmeasured.where("forgetting_kl IS NOT NULL").count());
    }
    assertEquals(bySlice, batched);

    // The first nq example of each nq run, decoded by a model and adapter loaded for it alone.
    PreparedRecord first =
        PreparedShards.read(PreparedShards.files(prepared, "nq", Split.TEST), 1).get(0);
    for (String run : List.of("nq-meft", "nq-lora")) {
      Path runDir = runs.resolve("runs").resolve(run);
      try (LanguageModel fresh = LanguageModel.load(model, null);
          BufferAllocator allocator = new RootAllocator(1L << 30);
          InstalledAdapters adapter =
              AdapterCheckpoint.load(runDir, fresh.llama(), fresh.manager(), allocator)) {
        long[] prompt =
            first.promptIds(
                SequenceLayout.of(fresh.config()),
                SequenceLayout.promptBudget(fresh.config().maxSeqLen(), 6));
        Generator.Generation generation =
            Generator.generate(
                fresh.llama(), fresh.manager(), prompt, 6, sampled.samplerFor(first.id()));
        assertEquals(
            fresh.tokenizer().decode(generation.newIds()), bySlice.get(run + "/" + first.id()));
      }
    }
  }

  private static Map<String, String> predictions(org.apache.spark.sql.Dataset<Row> rows) {
    Map<String, String> byId = new HashMap<>();
    for (Row row : rows.collectAsList()) {
      byId.put(row.getAs("run_id") + "/" + row.getAs("id"), row.getAs("prediction"));
    }
    return byId;
  }

  private static List<String> cells(String markdownRow) {
    List<String> cells = new ArrayList<>();
    for (String cell : markdownRow.split("\\|")) {
      if (!cell.isBlank()) {
        cells.add(cell.strip());
      }
    }
    return cells;
  }

  private static Result sweep(Path file) {
    return MainTest.meft(
        "train-sweep",
        "--prepared",
        prepared.toString(),
        "--sweep",
        file.toString(),
        "--output",
        dir.resolve("bad-runs").toString());
  }

  /**
   * An evaluation whose task fails (every checkpoint's adapter file corrupted) is one clear error
   * and leaves no output, so the same command runs once the runs are whole again.
   */
  @Test
  @Order(5)
  void aFailedEvaluationLeavesNoOutput() throws IOException {
    // The sweep's metrics name its runs' folders, so the runs are corrupted where they are, their
    // files kept aside and put back.
    Path runs = dir.resolve("runs");
    Map<Path, byte[]> adapters = new HashMap<>();
    try (Stream<Path> tree = Files.walk(runs)) {
      for (Path path : tree.toList()) {
        if (path.getFileName().toString().equals(AdapterCheckpoint.ADAPTER)) {
          adapters.put(path, Files.readAllBytes(path));
        }
      }
    }
    assertFalse(adapters.isEmpty());
    for (Map.Entry<Path, byte[]> adapter : adapters.entrySet()) {
      byte[] bytes = adapter.getValue().clone();
      bytes[bytes.length - 1] ^= 1;
      Files.write(adapter.getKey(), bytes);
    }
    Path output = dir.resolve("broken-predictions");
    String[] evaluate = {
      "evaluate",
      "--prepared",
      prepared.toString(),
      "--runs",
      runs.toString(),
      "--output",
      output.toString(),
      "--max-examples",
      "2"
    };
    assertOneError(MainTest.meft(evaluate), "evaluate", AdapterCheckpoint.ADAPTER);
    assertFalse(Files.exists(output));
    try (Stream<Path> siblings = Files.list(dir)) {
      assertEquals(
          List.of(),
          siblings
              .filter(p -> p.getFileName().toString().startsWith("broken-predictions"))
              .toList());
    }

    for (Map.Entry<Path, byte[]> adapter : adapters.entrySet()) {
      Files.write(adapter.getKey(), adapter.getValue());
    }
    Result again = MainTest.meft(evaluate);
    assertEquals(0, again.code(), again.err());
    assertTrue(Files.isDirectory(output));
  }

  /**
   * A copied sweep evaluates its own checkpoints: its metrics name each run's folder relative to
   * the sweep, so a run folder deleted from the copy is missed there, not read from the original.
   */
  @Test
  @Order(6)
  void aCopiedSweepEvaluatesItsOwnRuns() throws IOException {
    Path runs = dir.resolve("runs");
    Path copy = dir.resolve("copied-sweep");
    copyTree(runs, copy);
    assertTrue(
        Files.readString(copy.resolve("metrics.jsonl")).contains("\"run_dir\":\"runs/nq-lora\""));
    Path lost = copy.resolve("runs").resolve("nq-lora");
    OutputDirectory.delete(lost);
    Result evaluated =
        MainTest.meft(
            "evaluate",
            "--prepared",
            prepared.toString(),
            "--runs",
            copy.toString(),
            "--output",
            dir.resolve("copied-predictions").toString(),
            "--max-examples",
            "1");
    assertOneError(evaluated, "evaluate", lost.toString());
  }

  /**
   * {@code evaluate} in a child JVM (its console as a user sees it) on a sweep whose adapters are
   * all damaged: one error line naming the file, no Spark stack trace on either stream.
   */
  @Test
  @Order(7)
  void aDamagedCheckpointStopsEvaluateWithOneLine() throws Exception {
    Path copy = dir.resolve("damaged-sweep");
    copyTree(dir.resolve("runs"), copy);
    try (Stream<Path> tree = Files.walk(copy)) {
      for (Path path : tree.toList()) {
        if (path.getFileName().toString().equals(AdapterCheckpoint.ADAPTER)) {
          byte[] bytes = Files.readAllBytes(path);
          bytes[bytes.length - 1] ^= 1;
          Files.write(path, bytes);
        }
      }
    }
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (arg.startsWith("--add-") || arg.startsWith("-Dai.djl") || arg.startsWith("-Dio.netty")) {
        command.add(arg);
      }
    }
    command.addAll(
        List.of(
            "-Xmx1g",
            "-cp",
            String.join(File.pathSeparator, StandaloneCluster.classPath()),
            Main.class.getName(),
            "evaluate",
            "--prepared",
            prepared.toString(),
            "--runs",
            copy.toString(),
            "--output",
            dir.resolve("damaged-predictions").toString(),
            "--master",
            "local[2]"));
    Path out = dir.resolve("damaged-evaluate.out");
    Path err = dir.resolve("damaged-evaluate.err");
    Process child =
        new ProcessBuilder(command)
            .redirectOutput(out.toFile())
            .redirectError(err.toFile())
            .start();
    assertTrue(child.waitFor(300, TimeUnit.SECONDS), "no exit");
    String console = Files.readString(out) + Files.readString(err);
    assertEquals(1, child.exitValue(), console);
    assertEquals("", Files.readString(out), console);
    List<String> errors =
        Files.readAllLines(err).stream()
            .filter(l -> l.startsWith("meft evaluate: error: "))
            .toList();
    assertEquals(1, errors.size(), console);
    assertTrue(errors.get(0).contains(AdapterCheckpoint.ADAPTER), console);
    assertTrue(
        console.lines().noneMatch(l -> l.startsWith("\tat ") || l.contains(" ERROR ")), console);
  }

  private static void copyTree(Path from, Path to) throws IOException {
    try (Stream<Path> tree = Files.walk(from)) {
      for (Path path : tree.toList()) {
        Files.copy(path, to.resolve(from.relativize(path).toString()));
      }
    }
  }

  private static void assertOneError(Result result, String command, String expected) {
    assertEquals(1, result.code(), result.err());
    String[] lines = result.err().strip().split("\n");
    assertEquals(1, lines.length, result.err());
    assertTrue(lines[0].startsWith("meft " + command + ": error: "), lines[0]);
    assertTrue(lines[0].contains(expected), lines[0]);
  }

  /** The cells of one RFC 4180 CSV line (quoted cells may hold commas and doubled quotes). */
  static String[] csvCells(String line) {
    List<String> cells = new ArrayList<>();
    StringBuilder cell = new StringBuilder();
    boolean quoted = false;
    for (int i = 0; i < line.length(); i++) {
      char c = line.charAt(i);
      if (quoted) {
        if (c == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
          cell.append('"');
          i++;
        } else if (c == '"') {
          quoted = false;
        } else {
          cell.append(c);
        }
      } else if (c == '"') {
        quoted = true;
      } else if (c == ',') {
        cells.add(cell.toString());
        cell.setLength(0);
      } else {
        cell.append(c);
      }
    }
    cells.add(cell.toString());
    return cells.toArray(String[]::new);
  }
}
