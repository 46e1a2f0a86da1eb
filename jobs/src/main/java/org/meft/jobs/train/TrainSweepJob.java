package org.meft.jobs.train;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.meft.datasets.prepare.PreparedShards;
import org.meft.jobs.task.TaskFailures;

/**
 * The training sweep on Spark: one task per run, all runs one stage, so runs train in parallel
 * across executors (and a task that holds a GPU trains on it). A task that fails, or whose executor
 * is lost, is retried by Spark and resumes from the run's latest checkpoint.
 *
 * <p>Output:
 *
 * <pre>
 * OUTPUT/sweep.json        the runs as resolved (ids, datasets, every setting)
 * OUTPUT/runs/ID/          checkpoint-NNNNNN/ (the engine's checkpoint), train.log
 * OUTPUT/metrics/          one row per run ({@link RunMetrics}), Parquet
 * OUTPUT/metrics.jsonl     the same rows as JSON lines
 * </pre>
 */
public final class TrainSweepJob {
  public static final String SWEEP = "sweep.json";
  public static final String METRICS = "metrics";
  public static final String METRICS_JSONL = "metrics.jsonl";

  private TrainSweepJob() {}

  /**
   * Checks what can be checked before Spark: the output holds no finished sweep and every run's
   * tokenizer is the one the data was prepared with.
   *
   * @throws IllegalArgumentException naming the problem
   */
  public static void check(List<SweepRun> runs, Path output) {
    if (Files.exists(output.resolve(METRICS))) {
      throw new IllegalArgumentException(
          output + " already holds a finished sweep (" + METRICS + "/): choose a new --output");
    }
    if (Files.exists(output) && !Files.isDirectory(output)) {
      throw new IllegalArgumentException(output + " exists and is not a folder");
    }
    Set<String> checked = new LinkedHashSet<>();
    for (SweepRun run : runs) {
      Path tokenizer = tokenizerOf(run.settings());
      if (checked.add(run.prepared() + "\n" + tokenizer)) {
        try {
          PreparedShards.checkTokenizer(Path.of(run.prepared()), tokenizer);
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException("run '" + run.id() + "': " + e.getMessage(), e);
        }
      }
    }
  }

  /** Trains every run; returns the metrics, one row per run in sweep order. */
  public static Dataset<Row> run(SparkSession spark, List<SweepRun> runs, Path output) {
    Path out = output.toAbsolutePath().normalize();
    check(runs, out);
    writeSweep(runs, out);
    String outDir = out.toString();
    JavaSparkContext context = JavaSparkContext.fromSparkContext(spark.sparkContext());
    context.setJobDescription("meft train-sweep: " + runs.size() + " runs");
    // One partition per run: parallelize cuts n elements into n slices of one.
    List<Row> rows =
        TaskFailures.unwrap(
            () ->
                context
                    .parallelize(runs, runs.size())
                    .map(run -> RunTask.train(run, outDir))
                    .collect());
    List<Row> ordered = new ArrayList<>(rows);
    List<String> ids = runs.stream().map(SweepRun::id).toList();
    ordered.sort(Comparator.comparingInt(row -> ids.indexOf(row.getString(0))));
    Dataset<Row> metrics = spark.createDataFrame(ordered, RunMetrics.SCHEMA);
    metrics.coalesce(1).write().parquet(out.resolve(METRICS).toString());
    write(out.resolve(METRICS_JSONL), String.join("\n", metrics.toJSON().collectAsList()) + "\n");
    return spark.read().parquet(out.resolve(METRICS).toString());
  }

  /** The tokenizer file a run's model uses. */
  static Path tokenizerOf(Map<String, String> settings) {
    if (settings.get("tokenizer") != null) {
      return Path.of(settings.get("tokenizer"));
    }
    return Path.of(settings.get("model")).resolve("tokenizer.json");
  }

  private static void writeSweep(List<SweepRun> runs, Path out) {
    JsonArray array = new JsonArray();
    for (SweepRun run : runs) {
      JsonObject json = new JsonObject();
      json.addProperty("id", run.id());
      json.addProperty("dataset", run.dataset());
      json.addProperty("max-examples", run.maxExamples());
      run.settings().forEach(json::addProperty);
      array.add(json);
    }
    JsonObject sweep = new JsonObject();
    sweep.add("runs", array);
    write(
        out.resolve(SWEEP),
        new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create().toJson(sweep) + "\n");
  }

  private static void write(Path file, String text) {
    try {
      Files.createDirectories(file.getParent());
      Files.writeString(file, text, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }
}
