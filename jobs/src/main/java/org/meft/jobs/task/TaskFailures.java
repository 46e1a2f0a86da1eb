package org.meft.jobs.task;

import java.util.function.Supplier;
import org.apache.spark.SparkException;
import org.meft.stop.StoppedException;

/**
 * Turns a failed Spark job into the one error line a command prints: the message of the task's own
 * failure (which names the run), not Spark's wrapping with the executor's stack trace.
 */
public final class TaskFailures {
  private TaskFailures() {}

  /** Runs {@code job}; a failure of one of its tasks is rethrown as its task's message. */
  public static <T> T unwrap(Supplier<T> job) {
    try {
      return job.get();
    } catch (Exception e) { // Spark throws its checked SparkException undeclared
      for (Throwable cause = e; cause != null; cause = cause.getCause()) {
        if (cause instanceof StoppedException stopped) {
          throw stopped; // a task stopped by a signal: the command exits with its code
        }
      }
      boolean fromSpark = false;
      for (Throwable cause = e; cause != null; cause = cause.getCause()) {
        if (cause instanceof TaskException task) {
          throw new IllegalStateException(task.getMessage(), e);
        }
        fromSpark |= cause instanceof SparkException;
      }
      if (!fromSpark && e instanceof RuntimeException runtime) {
        throw runtime;
      }
      String message = e.getMessage() == null ? e.toString() : e.getMessage();
      throw new IllegalStateException(
          "the Spark job failed: " + message.lines().findFirst().orElse(""), e);
    }
  }

  /** A task's failure, with a message that names what it worked on. */
  public static final class TaskException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    public TaskException(String message, Throwable cause) {
      super(message, cause);
    }
  }
}
