package org.meft.stop;

import java.nio.file.Path;

/**
 * Work that stopped at a step boundary because a stop signal arrived ({@link StopSignals}); its
 * message is the one line the command prints, and the process exits with {@link #exitCode}.
 */
public final class StoppedException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final int exitCode;
  private final int step;

  private StoppedException(String message, int exitCode, int step) {
    super(message);
    this.exitCode = exitCode;
    this.step = step;
  }

  /**
   * A training run that stopped after {@code step} of {@code steps} steps.
   *
   * @param checkpoint where it can resume from, or null when it has none
   */
  public static StoppedException training(int step, int steps, Path checkpoint) {
    return new StoppedException(
        "stopped by "
            + StopSignals.signal()
            + " at step "
            + step
            + " of "
            + steps
            + (checkpoint == null
                ? " (no checkpoint: nothing saved)"
                : ", checkpoint " + checkpoint + " (the same command resumes there)"),
        StopSignals.exitCode(),
        step);
  }

  /** Other work that stopped: {@code what} says where. */
  public static StoppedException at(String what) {
    return new StoppedException(
        "stopped by " + StopSignals.signal() + " " + what, StopSignals.exitCode(), -1);
  }

  /** The training steps done when it stopped; -1 for other work. */
  public int step() {
    return step;
  }

  /** 128 + the signal's number: 143 for SIGTERM, 130 for SIGINT. */
  public int exitCode() {
    return exitCode;
  }
}
