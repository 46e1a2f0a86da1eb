package org.meft.jobs;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.meft.jobs.progress.ConsoleProgress;
import org.meft.jobs.train.Sweep;
import org.meft.jobs.train.SweepProgress;
import org.meft.jobs.train.SweepRun;
import org.meft.jobs.train.TrainSweepJob;
import org.meft.settings.Range;
import org.meft.settings.Setting;

/**
 * {@code bin/meft train-sweep}: the runs of a sweep file as one Spark stage, one task per run (see
 * {@link TrainSweepJob}). Prints one line per run: its id, device, attempts and losses.
 */
public final class TrainSweepCommand implements Command {
  @Override
  public boolean stoppable() {
    return true;
  }

  @Override
  public String name() {
    return "train-sweep";
  }

  @Override
  public String summary() {
    return "train the runs of a sweep file in parallel, one Spark task (and GPU) per run";
  }

  private static final Setting PREPARED =
      Setting.required("prepared", Setting.Kind.TEXT, Range.ANY, "prepare's output folder");
  private static final Setting SWEEP =
      Setting.required("sweep", Setting.Kind.TEXT, Range.ANY, "the sweep file (JSON)");
  private static final Setting OUTPUT =
      Setting.required(
          "output", Setting.Kind.TEXT, Range.ANY, "folder for the runs (resumed when it exists)");

  @Override
  public List<Setting> flags() {
    return List.of(PREPARED, SWEEP, OUTPUT, Flags.MASTER);
  }

  @Override
  public int run(List<String> args, PrintStream out) throws java.io.IOException {
    Flags flags = Flags.parse(this, args);
    Path prepared = flags.path(PREPARED);
    Path sweepFile = flags.path(SWEEP);
    Path output = flags.path(OUTPUT);
    List<SweepRun> runs = Sweep.read(sweepFile, prepared);
    TrainSweepJob.check(runs, output.toAbsolutePath().normalize());
    try (SparkSession spark = SparkSessions.open(name(), flags.master());
        ConsoleProgress progress =
            ConsoleProgress.start(spark, name(), System.err, new SweepProgress(runs, output))) {
      for (Row row : TrainSweepJob.run(spark, runs, output).collectAsList()) {
        out.println(summary(row));
      }
    }
    return 0;
  }

  /** One line per run. */
  static String summary(Row row) {
    return String.format(
        java.util.Locale.ROOT,
        "%-24s %-8s %-9s loss %.4f -> %.4f  %,d trainable  %.0f tokens/s  %.1f s%s",
        row.<String>getAs("run_id"),
        row.<String>getAs("method"),
        row.<String>getAs("device"),
        row.<Double>getAs("initial_loss"),
        row.<Double>getAs("final_loss"),
        row.<Long>getAs("trainable_params"),
        row.<Double>getAs("tokens_per_second"),
        row.<Double>getAs("wall_seconds"),
        row.<Integer>getAs("attempt") > 0
            ? "  (attempt "
                + row.getAs("attempt")
                + ", resumed at step "
                + row.getAs("resumed_from_step")
                + ")"
            : "");
  }
}
