package org.meft.jobs;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.meft.jobs.evaluate.PredictionsManifest;
import org.meft.jobs.report.MarkdownTable;
import org.meft.jobs.report.ReportJob;
import org.meft.settings.Range;
import org.meft.settings.Setting;

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

  private static final Setting RUNS =
      Setting.required("runs", Setting.Kind.TEXT, Range.ANY, "the train-sweep's output folder");
  private static final Setting PREDICTIONS =
      Setting.required(
          "predictions",
          Setting.Kind.TEXT,
          Range.ANY,
          "evaluate's output folders, comma-separated (e.g. the test and the train split's)");
  private static final Setting OUTPUT =
      Setting.required("output", Setting.Kind.TEXT, Range.ANY, "folder for the report");

  @Override
  public List<Setting> flags() {
    return List.of(RUNS, PREDICTIONS, OUTPUT, Flags.MASTER);
  }

  @Override
  public int run(List<String> args, PrintStream out) throws IOException {
    Flags flags = Flags.parse(this, args);
    Path runs = flags.path(RUNS);
    List<Path> predictions =
        java.util.Arrays.stream(flags.text(PREDICTIONS).split(",")).map(Path::of).toList();
    Path output = flags.path(OUTPUT);
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
    try (SparkSession spark = SparkSessions.open(name(), flags.master())) {
      List<Row> rows = ReportJob.run(spark, runs, predictions, output);
      out.print(MarkdownTable.of(rows));
    }
    return 0;
  }
}
