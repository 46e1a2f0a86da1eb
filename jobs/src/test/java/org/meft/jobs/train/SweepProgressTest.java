package org.meft.jobs.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.jobs.progress.ConsoleProgress;

/**
 * The sweep's console progress, from the files the run tasks write: the counts, each running run's
 * step, loss and ETA, and the stage line's figures, worked out by hand.
 */
class SweepProgressTest {
  @TempDir Path dir;

  private static SweepRun run(String id, int steps) {
    return new SweepRun(
        id,
        "nq",
        "prepared",
        0,
        Map.of(
            "model", "model",
            "data", "prepared/dataset=nq/split=train",
            "method", "lora",
            "steps", String.valueOf(steps),
            "batch-size", "2",
            "lr", "0.01"));
  }

  @Test
  void countsRunsAndShowsEachRunningRunsStepLossAndEta() {
    Path output = dir.resolve("sweep");
    List<SweepRun> runs =
        List.of(
            run("nq-a", 10), run("nq-b", 20), run("nq-c", 10), run("nq-d", 10), run("nq-e", 30));
    // a: done; b: attempt 1 resumed at 4, at step 8 after 2 s; c: loading; d: failed; e: waiting.
    new RunProgress(RunProgress.DONE, 0, 10, 10, 5.25, 9, 0)
        .write(mkdirs(RunTask.runDir(output, "nq-a")));
    new RunProgress(RunProgress.TRAINING, 1, 8, 20, 5.91234, 2, 4)
        .write(mkdirs(RunTask.runDir(output, "nq-b")));
    new RunProgress(RunProgress.LOADING, 0, 0, 10, Double.NaN, 1, 0)
        .write(mkdirs(RunTask.runDir(output, "nq-c")));
    new RunProgress(RunProgress.FAILED, 0, 3, 10, 6.0, 4, 0)
        .write(mkdirs(RunTask.runDir(output, "nq-d")));
    SweepProgress progress = new SweepProgress(runs, output);
    List<Optional<RunProgress>> states =
        runs.stream().map(r -> RunProgress.read(RunTask.runDir(output, r.id()))).toList();

    // Steps: 10 + 8 + 0 + 3 of 80; 21 done in 42 s, so 59 more take 118 s.
    assertEquals(
        List.of(
            "runs: 1 done, 2 running, 1 failed, 1 waiting of 5; steps 21/80, 0:42 elapsed,"
                + " ETA 1:58",
            "  nq-b step 8/20  loss 5.9123  ETA 0:06  (attempt 1, resumed at step 4)",
            "  nq-c loading (attempt 0)",
            "  nq-d failed at step 3/10 (attempt 0)"),
        progress.lines(states, 42));
    // What the driver polls: the same summary (its clock starts at this first poll).
    assertTrue(progress.get().get(0).startsWith("runs: 1 done, 2 running, 1 failed, 1 waiting"));
  }

  @Test
  void saysNothingBeforeTheFirstRunStartsAndAfterTheSweepEnds() throws Exception {
    Path output = dir.resolve("sweep");
    SweepProgress progress = new SweepProgress(List.of(run("nq-a", 10)), output);
    assertEquals(List.of(), progress.get());
    new RunProgress(RunProgress.TRAINING, 0, 2, 10, 6.0, 1, 0)
        .write(mkdirs(RunTask.runDir(output, "nq-a")));
    assertEquals(1 + 1, progress.get().size());
    Files.createDirectories(output.resolve(TrainSweepJob.METRICS));
    assertEquals(List.of(), progress.get());
  }

  @Test
  void stageLineCountsTasksWithAnEtaFromTheDoneOnes() {
    assertEquals(
        "stage 3 (collect at EvaluateJob.java:120): 5/12 tasks done, 2 running, 1 failed,"
            + " 0:40 elapsed, ETA 0:56",
        ConsoleProgress.stageLine(3, "collect at EvaluateJob.java:120", 12, 5, 2, 1, 40));
    assertEquals(
        "stage 0 (x): 0/4 tasks done, 4 running, 0 failed, 1:05 elapsed",
        ConsoleProgress.stageLine(0, "x", 4, 0, 4, 0, 65));
  }

  private static Path mkdirs(Path path) {
    try {
      return Files.createDirectories(path);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
