package org.meft.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.checkpoint.AdapterCheckpoint;
import org.meft.checkpoint.CheckpointManifest;
import org.meft.jobs.testing.StandaloneCluster;

/**
 * SIGTERM sent to {@code bin/meft train} (its Main class in a child JVM) at random steps, six times
 * in a row on one run: each time the child stops at a step boundary, writes a checkpoint there,
 * says so on one line and exits with 143, leaving no hs_err file; the next child resumes there. The
 * last one finishes, and the run's losses and files equal an uninterrupted run's.
 */
class StopSignalTest {
  private static final int STEPS = 60;
  private static final int SIGNALS = 6;
  private static final Pattern STEP_LINE = Pattern.compile("^step (\\d+)/" + STEPS + " ");
  private static final Pattern STOPPED =
      Pattern.compile(
          "^meft train: stopped by SIGTERM at step (\\d+) of "
              + STEPS
              + ", checkpoint (\\S+) \\(the same command resumes there\\)$");

  @TempDir Path dir;

  /** A child JVM running {@code Main}, its stderr lines queued as they come. */
  private record Child(
      Process process, Thread reader, BlockingQueue<String> lines, List<String> all) {
    /** Waits for the exit and the last line; returns the exit code. */
    int exit() throws InterruptedException {
      assertTrue(process.waitFor(120, TimeUnit.SECONDS), "no exit:\n" + text());
      reader.join(10_000);
      return process.exitValue();
    }

    String text() {
      synchronized (all) {
        return String.join("\n", all);
      }
    }
  }

  @Test
  void sigtermStopsAtAStepWithACheckpointAndTheRunResumesToTheUninterruptedLosses()
      throws Exception {
    Path model = MainTest.tinyModel(dir.resolve("tiny"));
    Path data = dir.resolve("pairs.jsonl");
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      lines.add("{\"prompt\": \"What is " + i + " + 3?\", \"target\": \" " + (i + 3) + "\"}");
    }
    Files.write(data, lines);
    Path work = Files.createDirectories(dir.resolve("work"));

    Path straight = dir.resolve("straight");
    Child uninterrupted = start(work, args(model, data, straight));
    assertEquals(0, uninterrupted.exit(), uninterrupted.text());

    Path run = dir.resolve("stopped");
    Random random = new Random(16);
    int at = 0;
    List<Integer> stops = new ArrayList<>();
    for (int signal = 0; signal < SIGNALS; signal++) {
      Child child = start(work, args(model, data, run));
      int target = at + 2 + random.nextInt(6);
      awaitStep(child, target);
      Thread.sleep(random.nextInt(4)); // somewhere inside a step: forward, backward or update
      // SIGTERM; through the handle, as Process.destroy() would also close the pipes we read.
      assertTrue(child.process().toHandle().destroy(), "cannot signal the child");
      assertEquals(143, child.exit(), child.text());
      String text = child.text();
      if (at > 0) {
        assertTrue(
            text.contains("resumed from " + run.resolve(checkpointName(at)) + " at step " + at),
            text);
      }
      Matcher stopped =
          text.lines().map(STOPPED::matcher).filter(Matcher::matches).findFirst().orElse(null);
      assertTrue(stopped != null, "no stop line:\n" + text);
      int stoppedAt = Integer.parseInt(stopped.group(1));
      assertTrue(stoppedAt >= target && stoppedAt < STEPS, text);
      assertEquals(run.resolve(checkpointName(stoppedAt)).toString(), stopped.group(2));
      assertEquals(
          stoppedAt, AdapterCheckpoint.verify(run.resolve(checkpointName(stoppedAt))).step());
      assertNoCrashReport(work);
      at = stoppedAt;
      stops.add(stoppedAt);
    }

    Child last = start(work, args(model, data, run));
    assertEquals(0, last.exit(), last.text());
    assertNoCrashReport(work);
    CheckpointManifest expected = AdapterCheckpoint.verify(straight.resolve(checkpointName(STEPS)));
    CheckpointManifest resumed = AdapterCheckpoint.verify(run.resolve(checkpointName(STEPS)));
    assertEquals(expected.trainerState().losses(), resumed.trainerState().losses());
    assertEquals(expected.files(), resumed.files(), "every file's size and SHA-256");
    System.out.printf(
        "SIGTERM sent %d times, stopped at steps %s, exit 143 each time, hs_err files 0;"
            + " resumed to step %d with the uninterrupted run's %d losses and file hashes%n",
        SIGNALS, stops, STEPS, resumed.trainerState().losses().size());
  }

  private static String checkpointName(int step) {
    return AdapterCheckpoint.directoryName(step);
  }

  private static List<String> args(Path model, Path data, Path output) {
    return List.of(
        "train",
        "--model",
        model.toString(),
        "--data",
        data.toString(),
        "--method",
        "meft",
        "--adapter-size",
        "64",
        "--top-k",
        "8",
        "--probes",
        "2",
        "--max-rows",
        "32",
        "--steps",
        Integer.toString(STEPS),
        "--batch-size",
        "2",
        "--lr",
        "1e-2",
        "--log-every",
        "1",
        "--output",
        output.toString());
  }

  private static Child start(Path work, List<String> args) throws IOException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (arg.startsWith("--add-") || arg.startsWith("-Dai.djl") || arg.startsWith("-Dio.netty")) {
        command.add(arg);
      }
    }
    command.add("-Xmx1g");
    command.add("-cp");
    command.add(String.join(File.pathSeparator, StandaloneCluster.classPath()));
    command.add(Main.class.getName());
    command.addAll(args);
    Process process =
        new ProcessBuilder(command)
            .directory(work.toFile())
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .start();
    BlockingQueue<String> queue = new LinkedBlockingQueue<>();
    List<String> all = new ArrayList<>();
    Thread reader =
        new Thread(
            () -> {
              try (BufferedReader in =
                  new BufferedReader(
                      new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8))) {
                for (String line = in.readLine(); line != null; line = in.readLine()) {
                  synchronized (all) {
                    all.add(line);
                  }
                  queue.add(line);
                }
              } catch (IOException e) {
                throw new UncheckedIOException(e);
              }
            });
    reader.setDaemon(true);
    reader.start();
    return new Child(process, reader, queue, all);
  }

  /** Waits until the child has printed the line of step {@code step} (or a later one). */
  private static void awaitStep(Child child, int step) throws InterruptedException {
    while (true) {
      String line = child.lines().poll(60, TimeUnit.SECONDS);
      assertTrue(line != null, "no step " + step + " within 60 s:\n" + child.text());
      Matcher m = STEP_LINE.matcher(line);
      if (m.find() && Integer.parseInt(m.group(1)) >= step) {
        return;
      }
    }
  }

  private static void assertNoCrashReport(Path work) throws IOException {
    try (Stream<Path> files = Files.walk(work)) {
      List<Path> reports =
          files.filter(p -> p.getFileName().toString().startsWith("hs_err_pid")).toList();
      assertTrue(reports.isEmpty(), "the JVM crashed: " + reports);
    }
  }
}
