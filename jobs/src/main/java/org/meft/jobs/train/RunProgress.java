package org.meft.jobs.train;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;

/**
 * Where one run of a sweep stands, as its task last wrote it to {@code RUN/progress.json}: the
 * driver reads these files to print the sweep's progress on its console ({@link SweepProgress}).
 *
 * <p>Why files: a run's folder is already on the file system that the driver and every executor see
 * (checkpoints resume from it), so a small file per run, replaced atomically at most once a second,
 * works on any cluster manager and survives executors' deaths, while Spark's accumulators reach the
 * driver only when a task ends and a listener sees tasks, not training steps.
 *
 * @param state {@code loading}, {@code training}, {@code done} or {@code failed}
 * @param attempt the Spark task attempt that wrote it
 * @param step optimizer steps done
 * @param steps the run's steps
 * @param loss the latest step's loss (NaN before the first)
 * @param seconds seconds since the attempt started
 * @param resumedFrom the step the attempt resumed from (0: from the start)
 */
public record RunProgress(
    String state, int attempt, int step, int steps, double loss, double seconds, int resumedFrom) {
  public static final String FILE = "progress.json";
  public static final String LOADING = "loading";
  public static final String TRAINING = "training";
  public static final String DONE = "done";
  public static final String FAILED = "failed";

  /** Replaces the run's progress file (write, then rename). */
  public void write(Path runDir) {
    JsonObject json = new JsonObject();
    json.addProperty("state", state);
    json.addProperty("attempt", attempt);
    json.addProperty("step", step);
    json.addProperty("steps", steps);
    json.addProperty("loss", Double.isFinite(loss) ? loss : null);
    json.addProperty("seconds", seconds);
    json.addProperty("resumed_from", resumedFrom);
    Path file = runDir.resolve(FILE);
    Path temporary = runDir.resolve("." + FILE + ".tmp");
    try {
      Files.writeString(temporary, json + "\n", StandardCharsets.UTF_8);
      try {
        Files.move(temporary, file, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(temporary, file, StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }

  /**
   * The run's progress, or empty when its task has not started (or the file is being replaced, or
   * unreadable: progress is advisory, the next poll reads it again).
   */
  public static Optional<RunProgress> read(Path runDir) {
    try {
      JsonObject json =
          JsonParser.parseString(Files.readString(runDir.resolve(FILE), StandardCharsets.UTF_8))
              .getAsJsonObject();
      return Optional.of(
          new RunProgress(
              json.get("state").getAsString(),
              json.get("attempt").getAsInt(),
              json.get("step").getAsInt(),
              json.get("steps").getAsInt(),
              json.get("loss").isJsonNull() ? Double.NaN : json.get("loss").getAsDouble(),
              json.get("seconds").getAsDouble(),
              json.get("resumed_from").getAsInt()));
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }
}
