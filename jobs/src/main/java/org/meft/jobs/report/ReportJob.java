package org.meft.jobs.report;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.meft.adapter.AdapterMethod;
import org.meft.adapter.AdapterMethods;
import org.meft.datasets.Datasets;
import org.meft.datasets.Split;
import org.meft.jobs.evaluate.Predictions;
import org.meft.jobs.evaluate.PredictionsManifest;
import org.meft.jobs.train.RunMetrics;
import org.meft.jobs.train.TrainSweepJob;

/**
 * The report, in Spark SQL: each run's predictions scored with its dataset's metric ({@link
 * Scores}) and averaged, joined with the run's training metrics. Written as {@code results/}
 * (Parquet) and {@code results.csv}, and each prediction's scores as {@code scores/} (Parquet), so
 * that a run's wrong answers can be looked up; the columns are listed in docs/guides/pipeline.md.
 * No prediction's content fails the report: one a metric cannot read scores 0 and is counted in
 * {@code unparsed}.
 */
public final class ReportJob {
  public static final String RESULTS = "results";
  public static final String CSV = "results.csv";
  public static final String SCORES = "scores";

  private ReportJob() {}

  /** The report of one predictions folder. */
  public static List<Row> run(SparkSession spark, Path runs, Path predictions, Path output) {
    return run(spark, runs, List.of(predictions), output);
  }

  /**
   * Builds, writes and returns the results, one row per run and split evaluated (a run without
   * predictions: one row, split null), in dataset and method order. {@code predictions} are the
   * folders of one or more evaluations of the sweep (for example its test split and its train
   * split); predictions written before they had a split are test predictions.
   */
  public static List<Row> run(
      SparkSession spark, Path runs, List<Path> predictionFolders, Path output) {
    Path metricsDir = runs.resolve(TrainSweepJob.METRICS);
    if (!Files.isDirectory(metricsDir)) {
      throw new IllegalArgumentException(
          runs + " holds no finished sweep (no " + TrainSweepJob.METRICS + "/): run train-sweep");
    }
    if (predictionFolders.isEmpty()) {
      throw new IllegalArgumentException("no predictions folder given (run evaluate)");
    }
    for (Path predictions : predictionFolders) {
      if (!Files.isDirectory(predictions)) {
        throw new IllegalArgumentException(predictions + ": no predictions folder (run evaluate)");
      }
      PredictionsManifest.check(predictions);
    }
    if (Files.exists(output.resolve(RESULTS))
        || Files.exists(output.resolve(CSV))
        || Files.exists(output.resolve(SCORES))) {
      throw new IllegalArgumentException(output + " already holds a report: choose a new --output");
    }
    Scores.register(spark);
    // Read with today's schema: a sweep trained by an earlier build lacks the newer columns (null).
    spark
        .read()
        .schema(RunMetrics.SCHEMA)
        .parquet(metricsDir.toString())
        .createOrReplaceTempView("metrics");
    Dataset<Row> all = null;
    for (Path predictions : predictionFolders) {
      Dataset<Row> read = spark.read().parquet(predictions.toString());
      List<String> columns = Arrays.asList(read.columns());
      if (!columns.contains("split")) {
        read = read.withColumn("split", functions.lit(Split.TEST.label()));
      }
      // Predictions written before forgetting was measured report it as not measured.
      for (String forgetting : List.of(Predictions.FORGETTING_KL, Predictions.FORGETTING_CHANGED)) {
        if (!columns.contains(forgetting)) {
          read = read.withColumn(forgetting, functions.lit(null).cast(DataTypes.DoubleType));
        }
      }
      read =
          read.select(
              "run_id",
              "dataset",
              "split",
              "id",
              "prediction",
              "references",
              "latency_ms",
              "decode_ms",
              "generated_tokens",
              Predictions.FORGETTING_KL,
              Predictions.FORGETTING_CHANGED);
      all = all == null ? read : all.unionByName(read);
    }
    all.createOrReplaceTempView("predictions");
    List<String> strangers =
        spark
            .sql(
                "SELECT DISTINCT run_id FROM predictions"
                    + " WHERE run_id NOT IN (SELECT run_id FROM metrics) ORDER BY run_id")
            .as(Encoders.STRING())
            .collectAsList();
    if (!strangers.isEmpty()) {
      throw new IllegalArgumentException(
          predictionFolders
              + " hold predictions of runs that "
              + metricsDir
              + " does not list: "
              + strangers
              + " (are --runs and --predictions of the same sweep?)");
    }
    Dataset<Row> scored =
        spark.sql(
            "SELECT run_id, dataset, split, id, s.*, latency_ms, decode_ms, generated_tokens,"
                + " prediction, references"
                + " FROM (SELECT *, "
                + Scores.FUNCTION
                + "(dataset, prediction, references) AS s FROM predictions)");
    scored.orderBy("run_id", "split", "id").write().parquet(output.resolve(SCORES).toString());
    spark.read().parquet(output.resolve(SCORES).toString()).createOrReplaceTempView("scores");
    String averages =
        Scores.NAMES.stream()
            .map(name -> "avg(" + name + ") AS " + name)
            .collect(Collectors.joining(", "));
    // Zero total latency (not measured) gives no rate and no mean rather than a division by zero.
    spark
        .sql(
            "SELECT run_id, dataset, split, count(*) AS examples_evaluated, "
                + averages
                + ", sum(unparsed) AS unparsed,"
                + " CASE WHEN sum(latency_ms) > 0 THEN avg(latency_ms) END AS latency_ms_mean,"
                + " CASE WHEN sum(decode_ms) > 0"
                + " THEN sum(generated_tokens) / (sum(decode_ms) / 1000) END"
                + " AS decode_tokens_per_second"
                + " FROM scores GROUP BY run_id, dataset, split")
        .createOrReplaceTempView("quality");
    // A run's forgetting is on the rows of its first slice only.
    spark
        .sql(
            "SELECT run_id, split, max(forgetting_kl) AS forgetting_kl,"
                + " max(forgetting_changed) AS forgetting_changed"
                + " FROM predictions GROUP BY run_id, split")
        .createOrReplaceTempView("forgetting");
    String scoreColumns =
        Scores.NAMES.stream().map(name -> "q." + name).collect(Collectors.joining(", "));
    Dataset<Row> results =
        spark.sql(
            "SELECT m.run_id, m.dataset, m.method, m.adapter_size, m.lora_rank,"
                + " coalesce(m.reversible, 'none') AS reversible, q.split, "
                + Scores.qualityNameExpression("m.dataset")
                + " AS metric, "
                + Scores.qualityExpression("m.dataset", "q.")
                + " AS quality, "
                + scoreColumns
                + ", coalesce(q.examples_evaluated, 0) AS examples_evaluated,"
                + " coalesce(q.unparsed, 0) AS unparsed, f.forgetting_kl, f.forgetting_changed,"
                + " m.trainable_params, m.device_adapter_bytes_peak, m.host_store_bytes,"
                + " m.tokens_per_second AS train_tokens_per_second, m.h2d_bytes_per_step,"
                + " m.d2h_bytes_per_step, m.mean_rows_per_layer, m.mean_distinct_rows_per_layer,"
                + " m.kept_choice_fraction, m.rows_updated_fraction,"
                + " m.mean_updates_per_updated_row, m.expert_load_entropy,"
                + " m.activation_bytes_kept, m.recompute_share,"
                + " m.initial_loss, m.final_loss,"
                + " m.steps, m.examples AS train_examples, m.device, m.attempt,"
                + " m.wall_seconds AS train_seconds, q.decode_tokens_per_second,"
                + " q.latency_ms_mean"
                + " FROM metrics m LEFT JOIN quality q ON m.run_id = q.run_id"
                + " LEFT JOIN forgetting f ON q.run_id = f.run_id AND q.split = f.split"
                + " ORDER BY "
                + order("m.dataset", Datasets.names())
                + ", "
                + order(
                    "m.method",
                    AdapterMethods.withCompositions().stream().map(AdapterMethod::name).toList())
                + ", m.run_id, q.split");
    results.coalesce(1).write().parquet(output.resolve(RESULTS).toString());
    List<Row> rows = spark.read().parquet(output.resolve(RESULTS).toString()).collectAsList();
    writeCsv(results.schema().fields(), rows, output.resolve(CSV));
    return rows;
  }

  private static String order(String column, List<String> values) {
    StringBuilder sql = new StringBuilder("CASE " + column);
    for (int i = 0; i < values.size(); i++) {
      sql.append(" WHEN '").append(values.get(i)).append("' THEN ").append(i);
    }
    return sql.append(" ELSE ").append(values.size()).append(" END").toString();
  }

  /** RFC 4180 CSV with a header; nulls are empty fields, numbers in full precision. */
  static void writeCsv(StructField[] fields, List<Row> rows, Path file) {
    StringBuilder csv = new StringBuilder();
    for (int i = 0; i < fields.length; i++) {
      csv.append(i == 0 ? "" : ",").append(fields[i].name());
    }
    csv.append('\n');
    for (Row row : rows) {
      for (int i = 0; i < fields.length; i++) {
        csv.append(i == 0 ? "" : ",");
        if (!row.isNullAt(i)) {
          String text = String.valueOf(row.get(i));
          boolean quote = text.contains(",") || text.contains("\"") || text.contains("\n");
          csv.append(quote ? "\"" + text.replace("\"", "\"\"") + "\"" : text);
        }
      }
      csv.append('\n');
    }
    try {
      Files.createDirectories(file.getParent());
      Files.writeString(file, csv, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }
}
