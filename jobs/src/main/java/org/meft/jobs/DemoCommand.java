package org.meft.jobs;

import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.meft.adapter.AdapterMethod;
import org.meft.adapter.AdapterMethods;
import org.meft.datasets.Datasets;
import org.meft.datasets.prepare.PrepareConfig;
import org.meft.datasets.prepare.PrepareJob;
import org.meft.jobs.demo.DemoData;
import org.meft.jobs.evaluate.EvaluateJob;
import org.meft.jobs.progress.ConsoleProgress;
import org.meft.jobs.report.MarkdownTable;
import org.meft.jobs.report.ReportJob;
import org.meft.jobs.train.Sweep;
import org.meft.jobs.train.SweepProgress;
import org.meft.jobs.train.SweepRun;
import org.meft.jobs.train.TrainSweepJob;
import org.meft.load.RandomLlama;
import org.meft.model.LlamaConfig;
import org.meft.settings.Range;
import org.meft.settings.Setting;
import org.meft.train.RunSpec;

/**
 * {@code bin/meft demo}: the main job on the embedded default, needing nothing but the repository.
 * It writes a seeded random LLaMA with its own tokenizer and the demo's handful of records per
 * dataset (official formats), then runs the pipeline on one Spark session: prepare, a sweep of
 * meft, parallel and lora on every dataset, evaluation and the report, whose table it prints. With
 * {@code --real}: the same on ../shared's stories260K model and a slice of ../shared's datasets.
 */
public final class DemoCommand implements Command {
  static final LlamaConfig DEMO_SHAPE = LlamaConfig.of(64, 172, 5, 8, 4, 512, 512);
  private static final String MARKER = ".meft-demo";
  private static final Set<String> DEMO_ENTRIES =
      Set.of(
          MARKER,
          "model",
          "raw",
          "sweep.json",
          "prepared",
          "runs",
          "predictions",
          "report",
          "random-model");
  private final PrintStream err;

  public DemoCommand() {
    this(System.err);
  }

  /** A demo that reports its stages on {@code err}. */
  DemoCommand(PrintStream err) {
    this.err = err;
  }

  @Override
  public boolean stoppable() {
    return true;
  }

  @Override
  public String name() {
    return "demo";
  }

  @Override
  public String summary() {
    return "the main job on the embedded default: prepare, train-sweep, evaluate, report";
  }

  private static final Setting REAL =
      Setting.flag("real", "the real stories260K model and 40 records of each shared dataset file");
  private static final Setting OUTPUT =
      Setting.derived(
          "output",
          Setting.Kind.TEXT,
          "work/demo, with --real work/demo-real",
          Range.ANY,
          "folder for everything the demo writes (replaced on the next run)");
  private static final Setting SHARED =
      Setting.text("shared", "../shared", "the shared folder (models/, datasets/) for --real");

  @Override
  public List<Setting> flags() {
    return List.of(REAL, OUTPUT, SHARED, Flags.MASTER);
  }

  @Override
  public int run(List<String> args, PrintStream out) throws IOException {
    Flags flags = Flags.parse(this, args);
    boolean real = flags.has(REAL);
    Path output =
        Optional.ofNullable(flags.optionalPath(OUTPUT))
            .orElse(Path.of(real ? "work/demo-real" : "work/demo"))
            .toAbsolutePath()
            .normalize();
    Path shared = flags.path(SHARED).toAbsolutePath().normalize();
    if (real && !Files.isDirectory(shared.resolve("models/stories260K-hf"))) {
      throw new UsageException(
          shared.resolve("models/stories260K-hf")
              + " not found: --real needs the shared models and datasets (see --shared)");
    }
    long start = System.nanoTime();
    fresh(output);
    Path model;
    Path raw;
    if (real) {
      model = shared.resolve("models/stories260K-hf");
      raw = DemoData.writeSlice(shared.resolve("datasets"), output.resolve("raw"), 40);
    } else {
      model = output.resolve("model");
      RandomLlama.write(model, DEMO_SHAPE, 42, DataType.FLOAT32, 0);
      raw = DemoData.writeEmbedded(output.resolve("raw"));
    }
    Path sweepFile = output.resolve("sweep.json");
    Files.writeString(sweepFile, sweep(model, real), StandardCharsets.UTF_8);
    stage("model " + model + ", data " + raw, start);

    AtomicReference<SweepProgress> sweepProgress = new AtomicReference<>();
    try (SparkSession spark = SparkSessions.open(name(), flags.master());
        ConsoleProgress progress =
            ConsoleProgress.start(
                spark,
                name(),
                err,
                () -> sweepProgress.get() == null ? List.of() : sweepProgress.get().get())) {
      Path prepared = output.resolve("prepared");
      PrepareJob.run(
          spark,
          new PrepareConfig(
              List.of(raw),
              Datasets.names(),
              model.resolve("tokenizer.json"),
              prepared,
              DEMO_SHAPE.maxSeqLen(),
              1,
              0.25,
              false));
      stage("prepare -> " + prepared, start);

      Path runs = output.resolve("runs");
      List<SweepRun> sweepRuns = Sweep.read(sweepFile, prepared);
      sweepProgress.set(new SweepProgress(sweepRuns, runs));
      TrainSweepJob.run(spark, sweepRuns, runs);
      stage("train-sweep -> " + runs, start);

      Path predictions = output.resolve("predictions");
      EvaluateJob.run(
          spark,
          prepared,
          runs,
          predictions,
          new EvaluateJob.Config(real ? 48 : 16, real ? 16 : 4, 8));
      stage("evaluate -> " + predictions, start);

      Path report = output.resolve("report");
      List<Row> rows = ReportJob.run(spark, runs, predictions, report);
      stage("report -> " + report.resolve(ReportJob.CSV), start);
      out.print(MarkdownTable.of(rows));
    }
    return 0;
  }

  /** The demo's sweep: meft, parallel and lora on every dataset, small enough for two cores. */
  static String sweep(Path model, boolean real) {
    StringBuilder runs = new StringBuilder();
    for (String dataset : Datasets.names()) {
      for (AdapterMethod method : AdapterMethods.all()) {
        Optional<Map<String, String>> settings = method.demoSettings(real);
        if (settings.isEmpty()) {
          continue;
        }
        StringBuilder parameters = new StringBuilder();
        new TreeMap<>(settings.get())
            .forEach(
                (key, value) ->
                    parameters
                        .append(parameters.isEmpty() ? "" : ", ")
                        .append('"')
                        .append(key)
                        .append("\": ")
                        .append(
                            RunSpec.setting(key).kind() == Setting.Kind.TEXT
                                ? '"' + value + '"'
                                : value));
        runs.append(runs.isEmpty() ? "" : ",\n")
            .append("    {\"dataset\": \"")
            .append(dataset)
            .append("\", \"method\": \"")
            .append(method.name())
            .append("\", ")
            .append(parameters)
            .append("}");
      }
    }
    return String.format(
        Locale.ROOT,
        "{%n  \"model\": \"%s\",%n  \"steps\": %d,%n  \"batch-size\": %d,%n  \"lr\": %s,%n"
            + "  \"max-length\": 256,%n  \"checkpoint-every\": %d,%n  \"log-every\": 5,%n"
            + "  \"runs\": [%n%s%n  ]%n}%n",
        model.toString().replace("\\", "\\\\"),
        real ? 30 : 12,
        real ? 8 : 4,
        real ? "0.003" : "0.01",
        real ? 20 : 6,
        runs);
  }

  /**
   * Empties the demo's folder. An existing folder is deleted only when everything in it is the
   * demo's (its marker and its own files and folders, or the older demo's random-model), so a
   * mistyped --output never deletes unrelated files.
   */
  private static void fresh(Path output) throws IOException {
    if (Files.exists(output)) {
      List<String> foreign;
      try (Stream<Path> entries = Files.list(output)) {
        foreign =
            entries
                .map(p -> p.getFileName().toString())
                .filter(name -> !DEMO_ENTRIES.contains(name))
                .sorted()
                .toList();
      }
      if (!foreign.isEmpty()) {
        throw new IllegalArgumentException(
            output + " holds files the demo did not make " + foreign + ": choose another --output");
      }
      try (Stream<Path> tree = Files.walk(output)) {
        for (Path path : tree.sorted(Comparator.reverseOrder()).toList()) {
          Files.delete(path);
        }
      }
    }
    Files.createDirectories(output);
    Files.writeString(output.resolve(MARKER), "made by bin/meft demo; replaced by its next run\n");
  }

  private void stage(String what, long start) {
    err.printf(Locale.ROOT, "meft demo: %-60s (%.0f s)%n", what, (System.nanoTime() - start) / 1e9);
  }
}
