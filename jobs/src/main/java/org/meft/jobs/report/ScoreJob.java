package org.meft.jobs.report;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.ArrayType;
import org.meft.datasets.Datasets;
import org.meft.datasets.Split;
import org.meft.datasets.metric.Metric;
import org.meft.datasets.prepare.PreparedShards;

/**
 * Scores predictions made anywhere with a dataset's metrics, the same as the report's ({@link
 * Scores}). Input: JSON Lines or Parquet rows {@code {"id", "prediction"}}, and the references
 * either joined by id from a prepared test split or given in the file ({@code references}: a list
 * of strings or one string). Output: {@code scores/} (Parquet) and {@code scores.jsonl}, one row
 * per example, and {@code summary.csv}, one row of means.
 *
 * <p>Against a prepared split, as the official scorers count: a test example without a prediction
 * ({@code missing}) scores 0 and stays in the denominator; a prediction whose id is not in the
 * split ({@code unknown}) cannot be scored and is left out. Both are listed, never silently
 * dropped. An input with a duplicate or a null id is refused (which prediction would count is not
 * clear), naming the ids.
 */
public final class ScoreJob {
  public static final String SCORES = "scores";
  public static final String JSONL = "scores.jsonl";
  public static final String SUMMARY = "summary.csv";

  /** The aggregate, with the ids that were missing or unknown. */
  public record Result(
      String dataset,
      String metricLabel,
      List<String> metricNames,
      double[] means,
      long examples,
      long unparsed,
      List<String> missing,
      List<String> unknown) {

    /** The aggregate as one JSON object: each metric's mean by name, the counts and the ids. */
    public com.google.gson.JsonObject toJson() {
      com.google.gson.JsonObject json = new com.google.gson.JsonObject();
      json.addProperty("dataset", dataset);
      json.addProperty("metric", metricLabel);
      com.google.gson.JsonObject scores = new com.google.gson.JsonObject();
      for (int i = 0; i < metricNames.size(); i++) {
        scores.addProperty(metricNames.get(i), means[i]);
      }
      json.add("scores", scores);
      json.addProperty("examples", examples);
      json.addProperty("unparsed", unparsed);
      com.google.gson.Gson gson = new com.google.gson.Gson();
      json.add("missing", gson.toJsonTree(missing));
      json.add("unknown", gson.toJsonTree(unknown));
      return json;
    }
  }

  private ScoreJob() {}

  /** Scores {@code input} against the test split; {@code prepared} may be null. */
  public static Result run(
      SparkSession spark, Path input, String dataset, Path prepared, Path output) {
    return run(spark, input, dataset, prepared, Split.TEST, output);
  }

  /**
   * Scores {@code input}; {@code prepared} may be null (references in the file). Against the
   * prepared {@code split}: every test example counts (a missing one scores 0); on the train split
   * (recall of what a run trained on, usually its first examples only) just the predicted ones.
   */
  public static Result run(
      SparkSession spark, Path input, String dataset, Path prepared, Split split, Path output) {
    checkOutput(output);
    return run(spark, Input.open(input), dataset, prepared, split, output);
  }

  /**
   * A predictions input checked before any Spark work: a JSON Lines file read whole ({@link
   * PredictionLines}), or Parquet (a {@code .parquet} file or a folder holding them).
   */
  public record Input(Path path, List<Row> lines) {
    /**
     * Checks {@code path}.
     *
     * @throws IllegalArgumentException of one line naming the file (and the line) when it cannot be
     *     scored
     */
    public static Input open(Path path) {
      if (!Files.exists(path)) {
        throw new IllegalArgumentException(path + ": no such file");
      }
      if (Files.isDirectory(path)) {
        if (!holdsParquet(path)) {
          throw new IllegalArgumentException(
              path
                  + ": a folder without .parquet files; --predictions takes a JSON Lines file or"
                  + " Parquet (a .parquet file or a folder of them)");
        }
        return new Input(path, null);
      }
      boolean parquet = path.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".parquet");
      return new Input(path, parquet ? null : PredictionLines.read(path));
    }

    private static boolean holdsParquet(Path folder) {
      try (Stream<Path> files = Files.walk(folder)) {
        return files.anyMatch(file -> file.getFileName().toString().endsWith(".parquet"));
      } catch (IOException e) {
        throw new UncheckedIOException("cannot list " + folder, e);
      }
    }

    /** The columns given: a JSON Lines file has {@code references} when a line gives them. */
    private List<String> columns(Dataset<Row> read) {
      if (lines == null) {
        return Arrays.asList(read.columns());
      }
      boolean references = lines.stream().anyMatch(row -> !row.isNullAt(2));
      return references ? List.of("id", "prediction", "references") : List.of("id", "prediction");
    }

    private Dataset<Row> read(SparkSession spark) {
      if (lines != null) {
        return spark.createDataFrame(lines, PredictionLines.SCHEMA);
      }
      try {
        return spark.read().parquet(path.toString());
      } catch (RuntimeException e) {
        String message = String.valueOf(e.getMessage());
        throw new IllegalArgumentException(
            path + ": not readable as Parquet (" + message.lines().findFirst().orElse("") + ")");
      }
    }
  }

  /**
   * Refuses an {@code --output} that is a file or already holds scores, before any work.
   *
   * @throws IllegalArgumentException naming the path
   */
  public static void checkOutput(Path output) {
    if (Files.exists(output) && !Files.isDirectory(output)) {
      throw new IllegalArgumentException(
          output + " is a file: --output names a folder to write the scores in; choose a new one");
    }
    if (Files.exists(output.resolve(SCORES)) || Files.exists(output.resolve(SUMMARY))) {
      throw new IllegalArgumentException(output + " already holds scores: choose a new --output");
    }
  }

  /** Scores a checked {@code input} into a checked {@code output} ({@link #checkOutput}). */
  public static Result run(
      SparkSession spark, Input input, String dataset, Path prepared, Split split, Path output) {
    Metric metric = Datasets.byName(dataset).metric();
    Dataset<Row> predictions = input.read(spark);
    List<String> columns = input.columns(predictions);
    for (String needed : List.of("id", "prediction")) {
      if (!columns.contains(needed)) {
        throw new IllegalArgumentException(
            input.path() + " has no '" + needed + "' column (it has " + columns + ")");
      }
    }
    predictions.createOrReplaceTempView("input");
    List<String> duplicates =
        ids(
            spark,
            "SELECT CAST(id AS STRING) AS id FROM input WHERE id IS NOT NULL GROUP BY id"
                + " HAVING count(*) > 1 ORDER BY id");
    if (!duplicates.isEmpty()) {
      throw new IllegalArgumentException(
          input.path()
              + " has "
              + duplicates.size()
              + " duplicate id(s), so it is not clear which prediction to score: "
              + String.join(", ", duplicates.subList(0, Math.min(20, duplicates.size())))
              + (duplicates.size() > 20 ? ", ..." : "")
              + "; give one prediction per id");
    }
    long nullIds = spark.sql("SELECT id FROM input WHERE id IS NULL").count();
    if (nullIds > 0) {
      throw new IllegalArgumentException(
          input.path() + " has " + nullIds + " row(s) without an id; every prediction needs one");
    }
    List<String> unknown;
    if (prepared != null) {
      List<String> shards =
          PreparedShards.files(prepared, dataset, split).stream().map(Path::toString).toList();
      spark
          .read()
          .parquet(shards.toArray(String[]::new))
          .select("id", "references")
          .createOrReplaceTempView("gold");
      unknown =
          ids(
              spark,
              "SELECT CAST(i.id AS STRING) AS id FROM input i LEFT ANTI JOIN gold g"
                  + " ON CAST(i.id AS STRING) = g.id ORDER BY id");
      spark
          .sql(
              "SELECT g.id, CAST(i.prediction AS STRING) AS prediction, g.references,"
                  + " i.prediction IS NULL AS missing FROM gold g "
                  + (split == Split.TEST ? "LEFT JOIN" : "JOIN")
                  + " input i"
                  + " ON g.id = CAST(i.id AS STRING)")
          .createOrReplaceTempView("examples");
    } else {
      if (!columns.contains("references")) {
        throw new IllegalArgumentException(
            input.path() + " has no 'references' column: give them there or use --prepared DIR");
      }
      String references =
          predictions.schema().apply("references").dataType() instanceof ArrayType
              ? "CAST(references AS ARRAY<STRING>)"
              : "array(CAST(references AS STRING))";
      unknown =
          ids(
              spark,
              "SELECT CAST(id AS STRING) AS id FROM input WHERE references IS NULL ORDER BY id");
      spark
          .sql(
              "SELECT CAST(id AS STRING) AS id, CAST(prediction AS STRING) AS prediction, "
                  + references
                  + " AS references, prediction IS NULL AS missing FROM input"
                  + " WHERE references IS NOT NULL")
          .createOrReplaceTempView("examples");
    }
    Scores.register(spark);
    String values =
        metric.names().stream()
            .map(name -> "CASE WHEN missing THEN 0.0 ELSE s." + name + " END AS " + name)
            .collect(Collectors.joining(", "));
    Dataset<Row> scored =
        spark.sql(
            "SELECT id, "
                + values
                + ", CASE WHEN missing THEN 0 ELSE s.unparsed END AS unparsed, missing,"
                + " prediction, references FROM (SELECT *, "
                + Scores.FUNCTION
                + "('"
                + dataset
                + "', prediction, references) AS s FROM examples)");
    scored.orderBy("id").write().parquet(output.resolve(SCORES).toString());
    Dataset<Row> written = spark.read().parquet(output.resolve(SCORES).toString()).orderBy("id");
    writeLines(written.toJSON().collectAsList(), output.resolve(JSONL));
    written.createOrReplaceTempView("scored");
    String averages =
        metric.names().stream()
            .map(name -> "avg(" + name + ") AS " + name)
            .collect(Collectors.joining(", "));
    Row summary =
        spark
            .sql(
                "SELECT count(*) AS examples, coalesce(sum(unparsed), 0) AS unparsed, "
                    + averages
                    + " FROM scored")
            .first();
    long examples = summary.getLong(0);
    double[] means = new double[metric.names().size()];
    for (int i = 0; i < means.length; i++) {
      means[i] = summary.isNullAt(2 + i) ? 0 : summary.getDouble(2 + i);
    }
    List<String> missing = ids(spark, "SELECT id FROM scored WHERE missing ORDER BY id");
    Result result =
        new Result(
            dataset,
            metric.labels().get(0),
            metric.names(),
            means,
            examples,
            summary.getLong(1),
            missing,
            unknown);
    writeSummary(result, output.resolve(SUMMARY));
    return result;
  }

  private static List<String> ids(SparkSession spark, String sql) {
    return spark.sql(sql).as(Encoders.STRING()).collectAsList();
  }

  /** The summary's columns: dataset, metric, quality, each metric, counts. */
  static void writeSummary(Result result, Path file) {
    List<String> header = new ArrayList<>(List.of("dataset", "metric", "quality"));
    header.addAll(result.metricNames());
    header.addAll(List.of("examples", "unparsed", "missing", "unknown"));
    List<String> cells = new ArrayList<>();
    cells.add(result.dataset());
    cells.add("\"" + result.metricLabel() + "\"");
    cells.add(String.valueOf(result.means()[0]));
    for (double mean : result.means()) {
      cells.add(String.valueOf(mean));
    }
    cells.add(String.valueOf(result.examples()));
    cells.add(String.valueOf(result.unparsed()));
    cells.add(String.valueOf(result.missing().size()));
    cells.add(String.valueOf(result.unknown().size()));
    writeLines(List.of(String.join(",", header), String.join(",", cells)), file);
  }

  /** The aggregate as a Markdown table, then the missing and unknown ids (the first 20 of each). */
  public static String table(Result result) {
    StringBuilder header = new StringBuilder("| dataset | metric | score |");
    StringBuilder rule = new StringBuilder("|---|---|---|");
    StringBuilder row =
        new StringBuilder("| " + result.dataset() + " | " + result.metricLabel() + " | ")
            .append(String.format(Locale.ROOT, "%.4f", result.means()[0]))
            .append(" |");
    List<String> labels = Datasets.byName(result.dataset()).metric().labels();
    for (int i = 0; i < labels.size(); i++) {
      header.append(' ').append(labels.get(i)).append(" |");
      rule.append("---|");
      row.append(String.format(Locale.ROOT, " %.4f |", result.means()[i]));
    }
    header.append(" examples | unparsed | missing | unknown |");
    rule.append("---|---|---|---|");
    row.append(
        String.format(
            Locale.ROOT,
            " %d | %d | %d | %d |",
            result.examples(),
            result.unparsed(),
            result.missing().size(),
            result.unknown().size()));
    StringBuilder text = new StringBuilder();
    text.append(header).append('\n').append(rule).append('\n').append(row).append('\n');
    listIds(text, "missing (test examples without a prediction, scored 0)", result.missing());
    listIds(
        text,
        "unknown (predictions not scored: id not in the test split or no references)",
        result.unknown());
    return text.toString();
  }

  private static void listIds(StringBuilder text, String what, List<String> ids) {
    if (!ids.isEmpty()) {
      text.append(what).append(", ").append(ids.size()).append(": ");
      text.append(String.join(", ", ids.subList(0, Math.min(20, ids.size()))));
      text.append(ids.size() > 20 ? ", ...\n" : "\n");
    }
  }

  private static void writeLines(List<String> lines, Path file) {
    try {
      Files.createDirectories(file.toAbsolutePath().getParent());
      Files.write(file, lines, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }
}
