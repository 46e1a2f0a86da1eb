package org.meft.jobs;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.SparkSession;
import org.meft.datasets.prepare.PrepareConfig;
import org.meft.datasets.prepare.PrepareJob;
import org.meft.datasets.prepare.PrepareResult;
import org.meft.jobs.progress.ConsoleProgress;
import org.meft.settings.Range;
import org.meft.settings.Setting;

/**
 * {@code bin/meft prepare}: raw NQ-open, SQuAD, GSM8K and ToolBench files to tokenized Parquet
 * shards, with {@link PrepareJob} on a Spark session this command owns. The summary table goes to
 * stderr; with {@code --json}, the same numbers as one JSON object on the last stdout line.
 */
public final class PrepareCommand implements Command {
  private final PrintStream err;

  public PrepareCommand() {
    this(System.err);
  }

  /** A command that prints its summary table to {@code err}. */
  PrepareCommand(PrintStream err) {
    this.err = err;
  }

  @Override
  public String name() {
    return "prepare";
  }

  @Override
  public String summary() {
    return "turn raw NQ-open/SQuAD/GSM8K/ToolBench files into tokenized Parquet shards (Spark)";
  }

  private static final Setting MAX_LENGTH =
      Setting.integer(
          "max-length",
          PrepareConfig.DEFAULT_MAX_LENGTH,
          Range.closed(PrepareConfig.MIN_MAX_LENGTH, PrepareConfig.MAX_MAX_LENGTH),
          "longest sequence in tokens (prompts cut in front)");
  private static final Setting SHARDS =
      Setting.integer(
          "shards",
          PrepareConfig.DEFAULT_SHARDS,
          Range.closed(1, PrepareConfig.MAX_SHARDS),
          "Parquet shards per split");
  private static final Setting TEST_FRACTION =
      Setting.number(
          "test-fraction",
          (float) PrepareConfig.DEFAULT_TEST_FRACTION,
          Range.closed(0, 1),
          "share of each dataset's records held out for evaluation");

  @Override
  public String usage() {
    return "--input DIR_OR_FILES[,...] --datasets nq,squad,gsm8k,toolbench --tokenizer"
        + " tokenizer.json --output DIR [--master local[*] --overwrite --json --closed-book (SQuAD without its passage)] [options]\n"
        + Flags.options(List.of(MAX_LENGTH, SHARDS, TEST_FRACTION));
  }

  @Override
  public int run(List<String> args, PrintStream out) throws IOException {
    Flags flags =
        Flags.parse(
            name(),
            args,
            Set.of(
                "input",
                "datasets",
                "tokenizer",
                "output",
                "max-length",
                "shards",
                "test-fraction",
                "master"),
            Set.of("overwrite", "json", "closed-book"));
    PrepareConfig config;
    try {
      config =
          new PrepareConfig(
              list(flags.required("input")).stream().map(Path::of).toList(),
              list(flags.required("datasets")),
              Path.of(flags.required("tokenizer")),
              Path.of(flags.required("output")),
              (int) flags.integer(MAX_LENGTH),
              (int) flags.integer(SHARDS),
              fraction(flags.string("test-fraction", null)),
              flags.has("overwrite"),
              flags.has("closed-book"));
    } catch (IllegalArgumentException e) {
      throw new UsageException(e.getMessage());
    }
    // Inputs, tokenizer and output are checked before Spark starts, so mistakes fail in a moment.
    PrepareJob.check(config);
    PrepareResult result;
    try (SparkSession spark =
            SparkSessions.open(name(), SparkSessions.master(flags.string("master", null)));
        ConsoleProgress progress = ConsoleProgress.start(spark, name(), System.err, List::of)) {
      result = PrepareJob.run(spark, config);
    }
    err.print(result.table());
    if (flags.has("json")) {
      out.println(result.toJson());
    }
    return 0;
  }

  private static double fraction(String value) {
    if (value == null) {
      return PrepareConfig.DEFAULT_TEST_FRACTION;
    }
    try {
      return Double.parseDouble(value);
    } catch (NumberFormatException e) {
      throw new UsageException("--test-fraction expects a number, got '" + value + "'");
    }
  }

  private static List<String> list(String value) {
    return Arrays.stream(value.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList();
  }
}
