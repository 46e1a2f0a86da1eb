package org.meft.jobs;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.meft.datasets.Datasets;
import org.meft.datasets.Split;
import org.meft.jobs.report.ScoreJob;
import org.meft.settings.Range;
import org.meft.settings.Setting;

/**
 * {@code bin/meft score}: scores predictions made anywhere (JSON Lines or Parquet of {@code {"id",
 * "prediction"}}) with a dataset's metrics, the report's own ({@link ScoreJob}); references from a
 * prepared test split or from the file's {@code references} column.
 */
public final class ScoreCommand implements Command {
  @Override
  public String name() {
    return "score";
  }

  @Override
  public String summary() {
    return "score a predictions file (JSONL/Parquet) with a dataset's metrics";
  }

  private static final Setting PREDICTIONS =
      Setting.required(
          "predictions",
          Setting.Kind.TEXT,
          Range.ANY,
          "a JSON Lines or Parquet file of {\"id\", \"prediction\"[, \"references\"]}");
  private static final Setting DATASET =
      Setting.required(
          "dataset",
          Setting.Kind.TEXT,
          Range.ANY,
          "whose metrics score it: " + String.join("|", Datasets.names()));
  private static final Setting PREPARED =
      Setting.derived(
          "prepared",
          Setting.Kind.TEXT,
          "none: the file's own references column",
          Range.ANY,
          "prepare's output folder, whose --split gives the references");
  private static final Setting OUTPUT =
      Setting.required(
          "output", Setting.Kind.TEXT, Range.ANY, "a new folder for the per-prediction scores");

  @Override
  public List<Setting> flags() {
    return List.of(PREDICTIONS, DATASET, OUTPUT, PREPARED, Flags.SPLIT, Flags.JSON, Flags.MASTER);
  }

  @Override
  public int run(List<String> args, PrintStream out) throws IOException {
    Flags flags = Flags.parse(this, args);
    Path input = flags.path(PREDICTIONS);
    String dataset = flags.text(DATASET);
    if (!Datasets.names().contains(dataset)) {
      throw new UsageException(
          "unknown dataset '" + dataset + "' (one of " + String.join(", ", Datasets.names()) + ")");
    }
    Path prepared = flags.optionalPath(PREPARED);
    Split split = flags.split();
    Path output = flags.path(OUTPUT);
    ScoreJob.checkOutput(output);
    ScoreJob.Input predictions = ScoreJob.Input.open(input);
    try (SparkSession spark = SparkSessions.open(name(), flags.master())) {
      ScoreJob.Result result = ScoreJob.run(spark, predictions, dataset, prepared, split, output);
      if (flags.has(Flags.JSON)) {
        System.err.print(ScoreJob.table(result));
        out.println(result.toJson());
      } else {
        out.print(ScoreJob.table(result));
      }
    }
    return 0;
  }
}
