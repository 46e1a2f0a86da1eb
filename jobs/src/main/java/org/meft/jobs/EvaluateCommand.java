package org.meft.jobs;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.SparkSession;
import org.meft.jobs.evaluate.Decoding;
import org.meft.jobs.evaluate.EvaluateJob;
import org.meft.plan.DecodeBatch;

/**
 * {@code bin/meft evaluate}: every run of a finished sweep decodes its dataset's test split, spread
 * over the executors ({@link EvaluateJob}), {@code --decode-batch} records per decoder call, greedy
 * unless {@code --temperature} is given (each example then draws from a seed of {@code --seed} and
 * its id, so batching and slicing never change a sample); predictions are written as Parquet.
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
        + " --decode-batch B (default: as many sequences as the run's device memory holds beside"
        + " the plan's base weights and adapter, each a KV cache of the model's length; the"
        + " GPU's memory or device-memory-gb, the machine's memory on the CPU; 1 to "
        + DecodeBatch.MAX
        + ") --temperature 0 (greedy) --top-p 1 --seed 1 --master local[*]|spark://HOST:PORT]";
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
                "decode-batch",
                "temperature",
                "top-p",
                "seed",
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
              flags.integer("slice-size", DEFAULT_SLICE_SIZE),
              new Decoding(
                  decodeBatch(flags),
                  flags.number("temperature", 0),
                  flags.number("top-p", 1f),
                  flags.longValue("seed", 1)));
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

  /** --decode-batch when given (at least 1), else {@link Decoding#AUTO}. */
  private static int decodeBatch(Flags flags) {
    if (flags.string("decode-batch", null) == null) {
      return Decoding.AUTO;
    }
    int batch = flags.integer("decode-batch", 1);
    if (batch < 1) {
      throw new UsageException("--decode-batch: expected an integer >= 1, got " + batch);
    }
    return batch;
  }
}
