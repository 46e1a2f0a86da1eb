package org.meft.jobs.train;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Supplier;
import org.meft.jobs.progress.ConsoleProgress;
import org.meft.train.RunSpec;

/**
 * The sweep's progress lines for the driver's console, from the runs' {@link RunProgress} files: a
 * summary (runs done, running, failed and waiting, steps done over all runs, ETA), then one line
 * per run that is loading, training or failed (step, loss, the run's ETA), as the trainer's lines.
 */
public final class SweepProgress implements Supplier<List<String>> {
  private final List<SweepRun> runs;
  private final List<Integer> steps;
  private final Path output;
  private long firstSeen = -1;

  /** The progress of {@code runs} training into {@code output} (a sweep's {@code --output}). */
  public SweepProgress(List<SweepRun> runs, Path output) {
    this.runs = runs;
    this.steps =
        runs.stream().map(run -> RunSpec.fromSettings(run.settings()).train().steps()).toList();
    this.output = output.toAbsolutePath().normalize();
  }

  /**
   * The lines now: none before the first run started or once the sweep wrote its metrics. The
   * sweep's ETA counts from the first poll that saw a run start.
   */
  @Override
  public List<String> get() {
    if (Files.exists(output.resolve(TrainSweepJob.METRICS))) {
      return List.of();
    }
    List<Optional<RunProgress>> states = new ArrayList<>();
    for (SweepRun run : runs) {
      states.add(RunProgress.read(RunTask.runDir(output, run.id())));
    }
    if (states.stream().allMatch(Optional::isEmpty)) {
      return List.of();
    }
    long now = System.nanoTime();
    if (firstSeen < 0) {
      firstSeen = now;
    }
    return lines(states, (now - firstSeen) / 1e9);
  }

  /** The lines for the runs' states (empty: not started), {@code seconds} into the sweep. */
  List<String> lines(List<Optional<RunProgress>> states, double seconds) {
    int done = 0;
    int running = 0;
    int failed = 0;
    long stepsDone = 0;
    long stepsTotal = 0;
    List<String> runLines = new ArrayList<>();
    for (int i = 0; i < runs.size(); i++) {
      SweepRun run = runs.get(i);
      stepsTotal += steps.get(i);
      if (states.get(i).isEmpty()) {
        continue;
      }
      RunProgress p = states.get(i).get();
      stepsDone += p.step();
      switch (p.state()) {
        case RunProgress.DONE -> done++;
        case RunProgress.FAILED -> {
          failed++;
          runLines.add(
              String.format(
                  Locale.ROOT,
                  "  %s failed at step %d/%d (attempt %d)",
                  run.id(),
                  p.step(),
                  p.steps(),
                  p.attempt()));
        }
        default -> {
          running++;
          runLines.add(runLine(run.id(), p));
        }
      }
    }
    int waiting = runs.size() - done - running - failed;
    String summary =
        String.format(
            Locale.ROOT,
            "runs: %d done, %d running, %d failed, %d waiting of %d; steps %d/%d, %s elapsed",
            done,
            running,
            failed,
            waiting,
            runs.size(),
            stepsDone,
            stepsTotal,
            ConsoleProgress.clock(seconds));
    if (stepsDone > 0 && seconds > 0) {
      summary += ", ETA " + ConsoleProgress.clock(seconds / stepsDone * (stepsTotal - stepsDone));
    }
    List<String> lines = new ArrayList<>();
    lines.add(summary);
    lines.addAll(runLines);
    return lines;
  }

  /** {@code nq-meft step 7/12 loss 5.9100 ETA 0:10 (attempt 1, resumed at step 6)}. */
  private static String runLine(String id, RunProgress p) {
    if (p.state().equals(RunProgress.LOADING)) {
      return String.format(Locale.ROOT, "  %s loading (attempt %d)", id, p.attempt());
    }
    StringBuilder line =
        new StringBuilder(
            String.format(
                Locale.ROOT, "  %s step %d/%d  loss %.4f", id, p.step(), p.steps(), p.loss()));
    int stepsHere = p.step() - p.resumedFrom();
    if (stepsHere > 0) {
      line.append("  ETA ")
          .append(ConsoleProgress.clock(p.seconds() / stepsHere * (p.steps() - p.step())));
    }
    if (p.attempt() > 0) {
      line.append(
          String.format(
              Locale.ROOT, "  (attempt %d, resumed at step %d)", p.attempt(), p.resumedFrom()));
    }
    return line.toString();
  }
}
