package org.meft.jobs;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.meft.forgetting.Forgetting;
import org.meft.generate.Sampler;
import org.meft.jobs.evaluate.Decoding;
import org.meft.jobs.evaluate.EvaluateJob;
import org.meft.jobs.progress.ConsoleProgress;
import org.meft.model.ShapeLimit;
import org.meft.plan.DecodeBatch;
import org.meft.settings.Range;
import org.meft.settings.Setting;

/**
 * {@code bin/meft evaluate}: every run of a finished sweep decodes its dataset's test split (or,
 * with {@code --split train}, the examples it trained on), spread over the executors ({@link
 * EvaluateJob}), {@code --decode-batch} records per decoder call, greedy unless {@code
 * --temperature} is given (each example then draws from a seed of {@code --seed} and its id, so
 * batching and slicing never change a sample); predictions are written as Parquet. Each run's
 * forgetting ({@link Forgetting}) is measured on {@code --forgetting-prompts} story prompts.
 */
public final class EvaluateCommand implements Command {
  static final int DEFAULT_MAX_NEW_TOKENS = 64;
  static final int DEFAULT_SLICE_SIZE = 64;

  @Override
  public boolean stoppable() {
    return true;
  }

  @Override
  public String name() {
    return "evaluate";
  }

  private static final Setting MAX_NEW_TOKENS =
      Setting.integer(
          "max-new-tokens",
          DEFAULT_MAX_NEW_TOKENS,
          Range.closed(0, ShapeLimit.POSITIONS.max()),
          "tokens decoded per record at most");
  private static final Setting MAX_EXAMPLES =
      Setting.integer(
          "max-examples", 0, Range.closed(0, Integer.MAX_VALUE), "records per test split (0: all)");
  private static final Setting SLICE_SIZE =
      Setting.integer(
          "slice-size", DEFAULT_SLICE_SIZE, Range.closed(1, 1 << 20), "records per Spark task");
  private static final Setting DECODE_BATCH =
      Setting.derived(
          "decode-batch",
          Setting.Kind.INTEGER,
          "as many sequences as the run's device memory holds beside the plan's base weights and"
              + " adapter, each a KV cache of the model's length (the GPU's memory or"
              + " device-memory-gb; the machine's memory on the CPU), 1 to "
              + DecodeBatch.MAX,
          Range.closed(1, 1 << 12),
          "records per decoder call");
  private static final Setting SEED =
      Setting.integer("seed", 1, Range.ANY, "sampling seed (with --temperature)");
  private static final List<Setting> SETTINGS =
      List.of(
          MAX_NEW_TOKENS,
          MAX_EXAMPLES,
          SLICE_SIZE,
          DECODE_BATCH,
          Sampler.TEMPERATURE,
          Sampler.TOP_P,
          SEED,
          Forgetting.PROMPTS);

  @Override
  public String summary() {
    return "decode the test splits with every run of a sweep (Spark); predictions as Parquet";
  }

  private static final Setting PREPARED =
      Setting.required("prepared", Setting.Kind.TEXT, Range.ANY, "prepare's output folder");
  private static final Setting RUNS =
      Setting.required("runs", Setting.Kind.TEXT, Range.ANY, "a finished train-sweep's folder");
  private static final Setting OUTPUT =
      Setting.required("output", Setting.Kind.TEXT, Range.ANY, "folder for the predictions");

  @Override
  public List<Setting> flags() {
    List<Setting> flags = new java.util.ArrayList<>(List.of(PREPARED, RUNS, OUTPUT, Flags.SPLIT));
    flags.addAll(SETTINGS);
    flags.add(Flags.MASTER);
    return flags;
  }

  @Override
  public int run(List<String> args, PrintStream out) throws java.io.IOException {
    Flags flags = Flags.parse(this, args);
    Path prepared = flags.path(PREPARED);
    Path runs = flags.path(RUNS);
    Path output = flags.path(OUTPUT);
    EvaluateJob.Config config;
    try {
      config =
          new EvaluateJob.Config(
              (int) flags.integer(MAX_NEW_TOKENS),
              (int) flags.integer(MAX_EXAMPLES),
              (int) flags.integer(SLICE_SIZE),
              new Decoding(
                  decodeBatch(flags),
                  flags.number(Sampler.TEMPERATURE),
                  flags.number(Sampler.TOP_P),
                  flags.integer(SEED)),
              flags.split(),
              (int) flags.integer(Forgetting.PROMPTS));
    } catch (IllegalArgumentException e) {
      throw new UsageException(e.getMessage());
    }
    try (SparkSession spark = SparkSessions.open(name(), flags.master());
        ConsoleProgress progress = ConsoleProgress.start(spark, name(), System.err, List::of)) {
      long predictions = EvaluateJob.run(spark, prepared, runs, output, config).count();
      out.println(predictions + " predictions written to " + output);
    }
    return 0;
  }

  /** --decode-batch when given, else {@link Decoding#AUTO} (the run's memory plan decides). */
  private static int decodeBatch(Flags flags) {
    return flags.has(DECODE_BATCH) ? (int) flags.integer(DECODE_BATCH) : Decoding.AUTO;
  }
}
