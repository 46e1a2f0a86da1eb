package org.meft.jobs;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.meft.jobs.evaluate.PredictionsManifest;
import org.meft.jobs.report.MarkdownTable;
import org.meft.jobs.report.ReportJob;

/**
 * {@code bin/meft report}: scores the predictions with each dataset's metric and joins the training
 * metrics (Spark SQL, {@link ReportJob}); writes Parquet and results.csv and prints a Markdown
 * table.
 */
public final class ReportCommand implements Command {
  @Override
  public String name() {
    return "report";
  }

  @Override
  public String summary() {
    return "score predictions, join training metrics: Parquet, results.csv, a Markdown table";
  }

  @Override
  public String usage() {
    return "--runs DIR --predictions DIR[,DIR: e.g. the test and the train split's] --output DIR [--master local[*]|spark://HOST:PORT]";
  }

  @Override
  public int run(List<String> args, PrintStream out) throws IOException {
    Flags flags =
        Flags.parse(name(), args, Set.of("runs", "predictions", "output", "master"), Set.of());
    Path runs = Path.of(flags.required("runs"));
    List<Path> predictions =
        java.util.Arrays.stream(flags.required("predictions").split(",")).map(Path::of).toList();
    Path output = Path.of(flags.required("output"));
    for (Path folder : predictions) {
      if (Files.isDirectory(folder) && !PredictionsManifest.check(folder)) {
        System.err.println(
            "meft report: note: "
                + folder
                + " has no "
                + PredictionsManifest.FILE
                + " (evaluated by an earlier build): its completeness is not checked");
      }
    }
    try (SparkSession spark =
        SparkSessions.open(name(), SparkSessions.master(flags.string("master", null)))) {
      List<Row> rows = ReportJob.run(spark, runs, predictions, output);
      out.print(MarkdownTable.of(rows));
    }
    return 0;
  }
}
