package org.meft.jobs.progress;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.spark.SparkStageInfo;
import org.apache.spark.SparkStatusTracker;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Option;

/**
 * A Spark command's progress on the driver's console (stderr), every {@value #DEFAULT_SECONDS} s
 * while a stage runs (system property {@value #SECONDS_PROPERTY}; 0 turns it off), in the style of
 * the trainer's progress lines: each active stage's tasks done, running and failed with an ETA,
 * then the command's own lines (the sweep's runs). The stages come from Spark's status tracker,
 * which the driver keeps for any cluster manager; nothing is printed while no stage runs, so a
 * quiet command stays quiet.
 */
public final class ConsoleProgress implements AutoCloseable {
  public static final String SECONDS_PROPERTY = "meft.progress.seconds";
  public static final int DEFAULT_SECONDS = 10;
  private static final Logger LOG = LoggerFactory.getLogger(ConsoleProgress.class);

  private final ScheduledExecutorService timer;

  private ConsoleProgress(ScheduledExecutorService timer) {
    this.timer = timer;
  }

  /**
   * Starts printing {@code command}'s progress on {@code out}; {@code extra} adds lines (none: an
   * empty list).
   *
   * @throws IllegalArgumentException when {@value #SECONDS_PROPERTY} is not a whole number
   */
  public static ConsoleProgress start(
      SparkSession spark, String command, PrintStream out, Supplier<List<String>> extra) {
    int seconds = periodSeconds();
    if (seconds <= 0) {
      return new ConsoleProgress(null);
    }
    ScheduledExecutorService timer =
        Executors.newSingleThreadScheduledExecutor(
            task -> {
              Thread thread = new Thread(task, "meft-progress");
              thread.setDaemon(true);
              return thread;
            });
    SparkStatusTracker tracker = spark.sparkContext().statusTracker();
    timer.scheduleWithFixedDelay(
        () -> {
          try {
            List<String> lines = new ArrayList<>();
            int[] stages = tracker.getActiveStageIds();
            Arrays.sort(stages);
            for (int id : stages) {
              Option<SparkStageInfo> stage = tracker.getStageInfo(id);
              if (stage.isDefined()) {
                SparkStageInfo info = stage.get();
                double elapsed = (System.currentTimeMillis() - info.submissionTime()) / 1e3;
                lines.add(
                    stageLine(
                        id,
                        info.name(),
                        info.numTasks(),
                        info.numCompletedTasks(),
                        info.numActiveTasks(),
                        info.numFailedTasks(),
                        elapsed));
              }
            }
            if (!lines.isEmpty()) {
              lines.addAll(extra.get());
            }
            lines.forEach(line -> out.println("meft " + command + ": " + line));
          } catch (RuntimeException e) {
            LOG.debug("progress poll failed", e); // advisory: the next poll tries again
          }
        },
        seconds,
        seconds,
        TimeUnit.SECONDS);
    return new ConsoleProgress(timer);
  }

  /**
   * A stage's line: {@code stage 3 (collect at EvaluateJob.java:120): 5/12 tasks done, 2 running, 1
   * failed, 0:42 elapsed, ETA 1:05}; the ETA assumes the remaining tasks take as long as the done
   * ones did (none before the first is done).
   */
  public static String stageLine(
      int id, String name, int tasks, int done, int running, int failed, double seconds) {
    String line =
        String.format(
            Locale.ROOT,
            "stage %d (%s): %d/%d tasks done, %d running, %d failed, %s elapsed",
            id,
            name,
            done,
            tasks,
            running,
            failed,
            clock(seconds));
    return done == 0 ? line : line + ", ETA " + clock(seconds / done * (tasks - done));
  }

  /** Seconds as {@code M:SS} (hours as minutes past 60), as the trainer's ETA. */
  public static String clock(double seconds) {
    long whole = Math.max(0, Math.round(seconds));
    return String.format(Locale.ROOT, "%d:%02d", whole / 60, whole % 60);
  }

  private static int periodSeconds() {
    String value = System.getProperty(SECONDS_PROPERTY, String.valueOf(DEFAULT_SECONDS));
    try {
      return Integer.parseInt(value.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "-D" + SECONDS_PROPERTY + ": expected a whole number of seconds, got '" + value + "'");
    }
  }

  @Override
  public void close() {
    if (timer != null) {
      timer.shutdownNow();
    }
  }
}
