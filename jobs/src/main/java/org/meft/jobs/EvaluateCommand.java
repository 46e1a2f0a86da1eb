package org.meft.jobs;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.SparkSession;
import org.meft.jobs.evaluate.EvaluateJob;

/**
 * {@code bin/meft evaluate}: every run of a finished sweep decodes its dataset's test split, spread
 * over the executors ({@link EvaluateJob}); predictions are written as Parquet.
 */
public final class EvaluateCommand implements Command {
  static final int DEFAULT_MAX_NEW_TOKENS = 64;
  static final int DEFAULT_SLICE_SIZE = 64;

  @Override
  public String name() {
    return "evaluate";
  }

  @Override
  public String summary() {
    return "decode the test splits with every run of a sweep (Spark); predictions as Parquet";
  }

  @Override
  public String usage() {
    return "--prepared DIR --runs DIR --output DIR [--max-new-tokens "
        + DEFAULT_MAX_NEW_TOKENS
        + " --max-examples N (default all) --slice-size "
        + DEFAULT_SLICE_SIZE
        + " --master local[*]|spark://HOST:PORT]";
  }

  @Override
  public int run(List<String> args, PrintStream out) throws java.io.IOException {
    Flags flags =
        Flags.parse(
            name(),
            args,
            Set.of(
                "prepared",
                "runs",
                "output",
                "max-new-tokens",
                "max-examples",
                "slice-size",
                "master"),
            Set.of());
    Path prepared = Path.of(flags.required("prepared"));
    Path runs = Path.of(flags.required("runs"));
    Path output = Path.of(flags.required("output"));
    EvaluateJob.Config config;
    try {
      config =
          new EvaluateJob.Config(
              flags.integer("max-new-tokens", DEFAULT_MAX_NEW_TOKENS),
              flags.integer("max-examples", 0),
              flags.integer("slice-size", DEFAULT_SLICE_SIZE));
    } catch (IllegalArgumentException e) {
      throw new UsageException(e.getMessage());
    }
    try (SparkSession spark =
        SparkSessions.open(name(), SparkSessions.master(flags.string("master", null)))) {
      long predictions = EvaluateJob.run(spark, prepared, runs, output, config).count();
      out.println(predictions + " predictions written to " + output);
    }
    return 0;
  }
}
