package org.meft.jobs.train;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.spark.sql.Row;
import org.meft.checkpoint.AdapterCheckpoint;
import org.meft.datasets.Split;
import org.meft.datasets.prepare.PreparedRecord;
import org.meft.datasets.prepare.PreparedShards;
import org.meft.format.CheckpointException;
import org.meft.jobs.task.TaskFailures;
import org.meft.jobs.task.TaskThreads;
import org.meft.load.LanguageModel;
import org.meft.run.TrainingRun;
import org.meft.stop.StopSignals;
import org.meft.tokenizer.SequenceLayout;
import org.meft.train.RunSpec;
import org.meft.train.TrainResult;
import org.meft.train.TrainerSnapshot;
import org.meft.train.TrainingExample;

/**
 * What one Spark task does for one run of a sweep: read the dataset's prepared train shards, train
 * with the engine into the run's folder (resuming from its latest checkpoint when an earlier
 * attempt left one), and return the metrics row. Progress goes to the run's {@code train.log}, one
 * block per attempt, and where the run stands to its {@link RunProgress} file, for the driver.
 */
public final class RunTask {
  /**
   * DJL records gradients for one model at a time per process (its gradient collector is global),
   * so tasks sharing an executor train one after another; executors train in parallel. Give each
   * executor one task slot for training ({@code spark.task.cpus = spark.executor.cores}) to avoid
   * the wait.
   */
  private static final Object TRAINING_SLOT = new Object();

  /** The log of a run, appended to by every attempt. */
  public static final String LOG = "train.log";

  private RunTask() {}

  /** The folder of run {@code id} under a sweep's output. */
  public static Path runDir(Path sweepOutput, String id) {
    return sweepOutput.resolve("runs").resolve(id);
  }

  /**
   * The folder of run {@code id} of the sweep in {@code sweepOutput} whose metrics say {@code
   * stored}: relative to the sweep, so that a copied or moved sweep evaluates its own checkpoints.
   * An absolute {@code stored} (written by an earlier build) is the run's folder in this sweep when
   * that exists, so a copy is read from itself, and {@code stored} only otherwise.
   */
  public static Path runDir(Path sweepOutput, String id, String stored) {
    Path path = Path.of(stored);
    if (!path.isAbsolute()) {
      return sweepOutput.resolve(path).normalize();
    }
    Path own = runDir(sweepOutput, id);
    return Files.isDirectory(own) || !Files.isDirectory(path) ? own : path;
  }

  /**
   * Trains {@code run}; failures are rethrown as one {@link TaskFailures.TaskException} naming the
   * run and the attempt.
   */
  public static Row train(SweepRun run, String sweepOutput) {
    TaskPlace place = TaskPlace.current();
    Path runDir = runDir(Path.of(sweepOutput), run.id());
    // On an executor of a cluster, SIGTERM stops the run at a step boundary with a checkpoint,
    // then the executor exits (143); in local mode the driver's command does the same.
    StopSignals.install();
    try (PrintStream log = openLog(runDir);
        StopSignals.Watch watch = StopSignals.watch()) {
      log.println("meft train-sweep: run " + run.id() + ", " + place.describe());
      Reporter reporter = new Reporter(runDir, place.attempt());
      try {
        synchronized (TRAINING_SLOT) {
          return train(run, runDir, place, log, reporter);
        }
      } catch (RuntimeException e) {
        reporter.report(RunProgress.FAILED);
        log.println("meft train-sweep: failed: " + e);
        throw new TaskFailures.TaskException(
            "run '" + run.id() + "' (attempt " + place.attempt() + "): " + e.getMessage(), e);
      }
    }
  }

  /**
   * The step of the newest checkpoint whose manifest reads (0: none), which the run resumes from
   * unless its files fail to verify (then {@link TrainingRun} falls back further and says so).
   */
  private static int newestReadableStep(Path runDir) {
    List<Path> checkpoints = AdapterCheckpoint.complete(runDir);
    for (int i = checkpoints.size() - 1; i >= 0; i--) {
      try {
        return AdapterCheckpoint.readManifest(checkpoints.get(i)).step();
      } catch (CheckpointException e) {
        // refused again, with the reason, when the run resumes
      }
    }
    return 0;
  }

  private static PrintStream openLog(Path runDir) {
    try {
      Files.createDirectories(runDir);
      return new PrintStream(
          new FileOutputStream(runDir.resolve(LOG).toFile(), true), true, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the log in " + runDir, e);
    }
  }

  private static Row train(
      SweepRun run, Path runDir, TaskPlace place, PrintStream log, Reporter reporter) {
    long start = System.nanoTime();
    RunSpec spec = RunSpec.fromSettings(run.settings());
    TaskThreads.limitToTaskCores();
    TrainingRun.preflight(spec, place.djlDevice(), log);
    List<PreparedRecord> records =
        PreparedShards.read(
            PreparedShards.files(Path.of(run.prepared()), run.dataset(), Split.TRAIN),
            run.maxExamples());
    int resumedFrom = newestReadableStep(runDir);
    reporter.start(resumedFrom, spec.train().steps());
    try (LanguageModel model =
        LanguageModel.load(
            spec.baseModel(), spec.tokenizer(), spec.baseDtype(), place.djlDevice())) {
      int maxLength = Math.min(spec.train().maxLength(), model.config().maxSeqLen());
      SequenceLayout layout = SequenceLayout.of(model.config());
      List<TrainingExample> examples = new ArrayList<>(records.size());
      for (PreparedRecord record : records) {
        Optional<TrainingExample> example = record.toTrainingExample(layout, maxLength);
        example.ifPresent(examples::add);
      }
      int tooLong = records.size() - examples.size();
      if (tooLong > 0) {
        log.printf(
            "meft train-sweep: %d of %d examples left out: their target does not fit %d tokens%n",
            tooLong, records.size(), maxLength);
      }
      if (examples.isEmpty()) {
        throw new IllegalArgumentException(
            "no "
                + run.dataset()
                + " training example fits max-length "
                + maxLength
                + " ("
                + records.size()
                + " read)");
      }
      TrainResult result =
          TrainingRun.run(model, spec, examples, runDir, false, log, reporter::afterStep);
      reporter.report(RunProgress.DONE);
      double seconds = (System.nanoTime() - start) / 1e9;
      log.printf(
          "meft train-sweep: run %s done: loss %.4f -> %.4f, %.1f s%n",
          run.id(), result.initialLoss(), result.finalLoss(), seconds);
      return RunMetrics.row(
          new RunMetrics.Context(
              run,
              spec,
              runDir(Path.of(""), run.id()).toString(),
              examples.size(),
              tooLong,
              place,
              resumedFrom,
              seconds),
          result);
    }
  }

  /**
   * Writes the run's {@link RunProgress}: at the start of the attempt, after a step at most once a
   * second (and after the last), and when it ends.
   */
  private static final class Reporter {
    private final Path runDir;
    private final int attempt;
    private final long start = System.nanoTime();
    private long lastWrite;
    private int resumedFrom;
    private int step;
    private int steps;
    private double loss = Double.NaN;

    Reporter(Path runDir, int attempt) {
      this.runDir = runDir;
      this.attempt = attempt;
    }

    void start(int resumedFrom, int steps) {
      this.resumedFrom = resumedFrom;
      this.step = resumedFrom;
      this.steps = steps;
      report(RunProgress.LOADING);
    }

    void afterStep(TrainerSnapshot snapshot, TrainResult soFar) {
      step = snapshot.state().step();
      List<Float> losses = snapshot.state().losses();
      loss = losses.isEmpty() ? Double.NaN : losses.get(losses.size() - 1);
      if (System.nanoTime() - lastWrite >= 1_000_000_000L || step == steps) {
        report(RunProgress.TRAINING);
      }
    }

    void report(String state) {
      lastWrite = System.nanoTime();
      try {
        new RunProgress(state, attempt, step, steps, loss, (lastWrite - start) / 1e9, resumedFrom)
            .write(runDir);
      } catch (UncheckedIOException e) {
        // Progress is advisory: a file system hiccup must not fail the run (the next write
        // retries).
      }
    }
  }
}
