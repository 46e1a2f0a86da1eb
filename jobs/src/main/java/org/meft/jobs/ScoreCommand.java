package org.meft.jobs;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.SparkSession;
import org.meft.datasets.Datasets;
import org.meft.datasets.Split;
import org.meft.jobs.report.ScoreJob;

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

  @Override
  public String usage() {
    return "--predictions FILE --dataset "
        + String.join("|", Datasets.names())
        + " [--prepared DIR --split test|train] --output DIR [--master local[*]|spark://HOST:PORT]";
  }

  @Override
  public int run(List<String> args, PrintStream out) throws IOException {
    Flags flags =
        Flags.parse(
            name(),
            args,
            Set.of("predictions", "dataset", "prepared", "split", "output", "master"),
            Set.of());
    Path input = Path.of(flags.required("predictions"));
    String dataset = flags.required("dataset");
    if (!Datasets.names().contains(dataset)) {
      throw new UsageException(
          "unknown dataset '" + dataset + "' (one of " + String.join(", ", Datasets.names()) + ")");
    }
    String prepared = flags.string("prepared", null);
    Split split = flags.split();
    Path output = Path.of(flags.required("output"));
    ScoreJob.checkOutput(output);
    ScoreJob.Input predictions = ScoreJob.Input.open(input);
    try (SparkSession spark =
        SparkSessions.open(name(), SparkSessions.master(flags.string("master", "local[1]")))) {
      ScoreJob.Result result =
          ScoreJob.run(
              spark,
              predictions,
              dataset,
              prepared == null ? null : Path.of(prepared),
              split,
              output);
      out.print(ScoreJob.table(result));
    }
    return 0;
  }
}
