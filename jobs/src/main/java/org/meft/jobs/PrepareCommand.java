package org.meft.jobs;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.meft.datasets.Datasets;
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

  private static final Setting INPUT =
      Setting.required(
          "input",
          Setting.Kind.TEXT,
          Range.ANY,
          "the raw files, or folders holding them, comma-separated");
  private static final Setting DATASETS =
      Setting.required(
          "datasets",
          Setting.Kind.TEXT,
          Range.ANY,
          "comma-separated, of " + String.join(",", Datasets.names()));
  private static final Setting TOKENIZER =
      Setting.required(
          "tokenizer", Setting.Kind.TEXT, Range.ANY, "the model's Hugging Face tokenizer.json");
  private static final Setting OUTPUT =
      Setting.required(
          "output", Setting.Kind.TEXT, Range.ANY, "folder for the Parquet shards and manifest");
  private static final Setting OVERWRITE =
      Setting.flag("overwrite", "replace an existing --output folder");
  private static final Setting CLOSED_BOOK =
      Setting.flag("closed-book", "SQuAD without its passage (question and answer only)");

  @Override
  public List<Setting> flags() {
    return List.of(
        INPUT,
        DATASETS,
        TOKENIZER,
        OUTPUT,
        MAX_LENGTH,
        SHARDS,
        TEST_FRACTION,
        OVERWRITE,
        CLOSED_BOOK,
        Flags.JSON,
        Flags.MASTER);
  }

  @Override
  public int run(List<String> args, PrintStream out) throws IOException {
    Flags flags = Flags.parse(this, args);
    PrepareConfig config;
    try {
      config =
          new PrepareConfig(
              list(flags.text(INPUT)).stream().map(Path::of).toList(),
              list(flags.text(DATASETS)),
              flags.path(TOKENIZER),
              flags.path(OUTPUT),
              (int) flags.integer(MAX_LENGTH),
              (int) flags.integer(SHARDS),
              testFraction(flags),
              flags.has(OVERWRITE),
              flags.has(CLOSED_BOOK));
    } catch (IllegalArgumentException e) {
      throw new UsageException(e.getMessage());
    }
    // Inputs, tokenizer and output are checked before Spark starts, so mistakes fail in a moment.
    PrepareJob.check(config);
    PrepareResult result;
    try (SparkSession spark = SparkSessions.open(name(), flags.master());
        ConsoleProgress progress = ConsoleProgress.start(spark, name(), System.err, List::of)) {
      result = PrepareJob.run(spark, config);
    }
    err.print(result.table());
    if (flags.has(Flags.JSON)) {
      out.println(result.toJson());
    }
    return 0;
  }

  /** Checked as a number in range, read as the double it is written as (splits hash against it). */
  private static double testFraction(Flags flags) {
    flags.number(TEST_FRACTION);
    return Double.parseDouble(flags.text(TEST_FRACTION));
  }

  private static List<String> list(String value) {
    return Arrays.stream(value.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList();
  }
}
