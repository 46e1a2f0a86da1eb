package org.meft.jobs.evaluate;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.meft.datasets.Split;
import org.meft.datasets.prepare.OutputDirectory;
import org.meft.datasets.prepare.PreparedShards;
import org.meft.forgetting.Forgetting;
import org.meft.jobs.task.TaskFailures;
import org.meft.jobs.train.RunTask;
import org.meft.jobs.train.TrainSweepJob;

/**
 * The distributed evaluation: every run of a sweep decodes its dataset's test split (or, for
 * recall, the training examples it was trained on: {@link Config#split}). The shards are cut into
 * slices of at most {@code sliceSize} rows; each (run, slice) is one task, so the work spreads over
 * the executors; the tasks of one executor share its loaded base model and each run's adapter
 * ({@link ExecutorModels}). Predictions are written as Parquet ({@link Predictions#SCHEMA}) with
 * the manifest of their parts ({@link PredictionsManifest}). Each run's first slice also measures
 * the run's {@link Forgetting}, once per run.
 */
public final class EvaluateJob {
  /**
   * @param maxNewTokens the decoding budget per example
   * @param maxExamples evaluate the first this many test examples of each dataset (0: all)
   * @param sliceSize test rows per task
   * @param decoding how each example is decoded
   * @param split the split decoded: {@code TEST}, or {@code TRAIN} to measure what a run recalls of
   *     the examples it trained on (at most the run's own training examples, the first of the
   *     split)
   * @param forgettingPrompts the story prompts each run's forgetting is measured on ({@link
   *     Forgetting}; 0: not measured)
   */
  public record Config(
      int maxNewTokens,
      int maxExamples,
      int sliceSize,
      Decoding decoding,
      Split split,
      int forgettingPrompts) {
    public Config {
      Forgetting.PROMPTS.check(forgettingPrompts);
      if (maxNewTokens < 1 || maxExamples < 0 || sliceSize < 1) {
        throw new IllegalArgumentException(
            "max-new-tokens >= 1, max-examples >= 0 and slice-size >= 1 expected, got "
                + maxNewTokens
                + ", "
                + maxExamples
                + ", "
                + sliceSize);
      }
      java.util.Objects.requireNonNull(decoding, "decoding");
      java.util.Objects.requireNonNull(split, "split");
    }

    /** The test split, forgetting measured on every story prompt. */
    public Config(int maxNewTokens, int maxExamples, int sliceSize, Decoding decoding) {
      this(maxNewTokens, maxExamples, sliceSize, decoding, Split.TEST, Forgetting.DEFAULT_PROMPTS);
    }

    /** Greedy decoding, the batch from each run's memory plan. */
    public Config(int maxNewTokens, int maxExamples, int sliceSize) {
      this(maxNewTokens, maxExamples, sliceSize, Decoding.greedy(Decoding.AUTO));
    }
  }

  private EvaluateJob() {}

  /** The slices of every run of the sweep in {@code runs}, in run order. */
  public static List<EvaluationSlice> plan(
      SparkSession spark, Path prepared, Path runs, Config config) {
    Path metrics = runs.resolve(TrainSweepJob.METRICS);
    if (!Files.isDirectory(metrics)) {
      throw new IllegalArgumentException(
          runs + " holds no finished sweep (no " + TrainSweepJob.METRICS + "/): run train-sweep");
    }
    List<EvaluationSlice> slices = new ArrayList<>();
    for (Row run :
        spark
            .read()
            .parquet(metrics.toString())
            .select("run_id", "dataset", "model", "tokenizer", "run_dir", "examples")
            .collectAsList()) {
      String dataset = run.getString(1);
      Path runDir = RunTask.runDir(runs.toAbsolutePath(), run.getString(0), run.getString(4));
      if (!Files.isDirectory(runDir)) {
        throw new IllegalArgumentException(
            runs + " lists run '" + run.getString(0) + "' but has no folder " + runDir);
      }
      long left = config.maxExamples() == 0 ? Long.MAX_VALUE : config.maxExamples();
      if (config.split() == Split.TRAIN) {
        // The run trained on the first `examples` records of the train split, in shard order.
        left = Math.min(left, run.getInt(5));
      }
      boolean firstSlice = true;
      for (Path shard : PreparedShards.files(prepared, dataset, config.split())) {
        long rows = Math.min(left, PreparedShards.rowCount(shard));
        for (long offset = 0; offset < rows; offset += config.sliceSize()) {
          slices.add(
              new EvaluationSlice(
                  run.getString(0),
                  dataset,
                  run.getString(2),
                  run.isNullAt(3) ? null : run.getString(3),
                  runDir.toString(),
                  shard.toAbsolutePath().toString(),
                  config.split().label(),
                  offset,
                  (int) Math.min(config.sliceSize(), rows - offset),
                  config.maxNewTokens(),
                  config.decoding(),
                  config.forgettingPrompts(),
                  firstSlice && config.forgettingPrompts() > 0));
          firstSlice = false;
        }
        left -= rows;
      }
    }
    if (slices.isEmpty()) {
      throw new IllegalArgumentException(
          "nothing to evaluate: the sweep in " + runs + " has no runs");
    }
    return slices;
  }

  /** The longest wait for a failed job's other tasks to end (one decode batch each). */
  private static final long DRAIN_MILLIS = 60_000;

  /**
   * After a failed task or a stop: cancels the job and waits until its other tasks have ended (each
   * at its next batch, {@link PredictTask}), so that none is left decoding with a model the driver
   * closes next, or logging through a stopped Spark context, a stack trace on the console.
   */
  private static void drain(SparkSession spark) {
    spark.sparkContext().cancelAllJobs();
    long deadline = System.nanoTime() + DRAIN_MILLIS * 1_000_000;
    while (System.nanoTime() < deadline) {
      boolean running = false;
      for (var executor : spark.sparkContext().statusTracker().getExecutorInfos()) {
        running |= executor.numRunningTasks() > 0;
      }
      if (!running) {
        return;
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /** Decodes every slice and writes the predictions to {@code output}; returns them. */
  public static Dataset<Row> run(
      SparkSession spark, Path prepared, Path runs, Path output, Config config) {
    if (Files.exists(output)) {
      throw new IllegalArgumentException(output + " already exists: choose a new --output");
    }
    List<EvaluationSlice> slices = plan(spark, prepared, runs, config);
    JavaSparkContext context = JavaSparkContext.fromSparkContext(spark.sparkContext());
    context.setJobDescription("meft evaluate: " + slices.size() + " slices");
    // One partition per slice, run after run: Spark launches tasks in partition order, so each
    // executor works through one run's slices before the next run's, and its cached model
    // (ExecutorModels) changes adapter once per run.
    JavaRDD<Row> rows =
        context
            .parallelize(slices, slices.size())
            .flatMap(slice -> PredictTask.predict(slice).iterator());
    // Written beside the output and moved into place when complete: a failed evaluation leaves no
    // output behind, so the same command can run again once its cause is fixed.
    Path partial = OutputDirectory.temporary(output);
    try {
      TaskFailures.unwrap(
          () -> {
            spark
                .createDataFrame(rows, Predictions.SCHEMA)
                .write() // one file per slice: merging partitions would merge tasks
                .parquet(partial.toString());
            return null;
          });
      long expected = slices.stream().mapToLong(EvaluationSlice::count).sum();
      long written = PredictionsManifest.write(partial);
      if (written != expected) {
        throw new IllegalStateException(
            "the predictions hold " + written + " rows where the slices had " + expected);
      }
      Files.move(partial, output.toAbsolutePath(), StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot move the predictions to " + output, e);
    } catch (RuntimeException e) {
      drain(spark);
      throw e;
    } finally {
      ExecutorModels.close(); // local mode: the driver's JVM is the executor
      OutputDirectory.delete(partial);
    }
    return spark.read().parquet(output.toAbsolutePath().toString());
  }
}
