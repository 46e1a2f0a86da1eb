package org.meft.stop;

import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/**
 * Graceful stop on SIGTERM and SIGINT (sent by {@code timeout}, Ctrl-C, Spark cancelling a task,
 * Kubernetes): the first signal sets a flag that training and evaluation loops read between steps
 * ({@link #requested}); they finish the step, write a checkpoint, and end with a {@link
 * StoppedException}; the process then exits with 128 + the signal's number (143, 130). A second
 * signal exits at once, but still only when no thread is inside the native engine ({@link
 * NativeGate}).
 *
 * <p>Why {@code sun.misc.Signal} handlers and not a shutdown hook: the JVM's own handler starts the
 * exit sequence at once, and a shutdown hook can only delay the final exit, not keep other threads
 * out of libtorch while the C library's exit handlers destroy its globals; nor can it tell a second
 * signal from the first (the JVM ignores signals once exiting). A handler instead decides when the
 * exit starts: after the loops have stopped at a step boundary ({@link #watch}) and through {@link
 * NativeGate#exit}, which waits until no thread is inside a native section. Where nothing watches
 * (loading data, a Spark job with no training in it) the first signal exits that way at once.
 */
public final class StopSignals {
  private static final Logger LOG = LoggerFactory.getLogger(StopSignals.class);
  private static final Object LOCK = new Object();
  private static final List<String> SIGNALS = List.of("TERM", "INT");
  private static boolean installed;
  private static int watchers;
  private static volatile String received;
  private static volatile int exitCode;

  private StopSignals() {}

  /**
   * Handles SIGTERM and SIGINT in this process from now on (again: no effect). A signal the process
   * was started to ignore (SIGINT in a background job) stays ignored.
   */
  public static void install() {
    synchronized (LOCK) {
      if (installed) {
        return;
      }
      installed = true;
    }
    for (String name : SIGNALS) {
      Signal signal = new Signal(name);
      try {
        Signal.handle(signal, s -> receive("SIG" + s.getName(), 128 + s.getNumber()));
      } catch (IllegalArgumentException e) {
        LOG.debug("SIG{} cannot be handled here: {}", name, e.getMessage());
      }
    }
  }

  /**
   * What a signal does (the handlers call it in a thread of their own): the first sets the stop
   * flag, then exits once nothing {@link #watch}es; a second exits at once. Both exit only through
   * {@link NativeGate#exit}.
   *
   * @param signal its name, e.g. SIGTERM
   * @param code the exit code: 128 + the signal's number
   */
  static void receive(String signal, int code) {
    boolean first;
    synchronized (LOCK) {
      first = received == null;
      if (first) {
        exitCode = code;
        received = signal;
      }
    }
    if (!first) {
      LOG.warn("{} again: exiting now", signal);
      NativeGate.exit(exitCode);
      return;
    }
    LOG.info("{}: stopping at the next step boundary", signal);
    synchronized (LOCK) {
      while (watchers > 0) {
        try {
          LOCK.wait();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
    NativeGate.exit(code);
  }

  /** Whether a stop signal has arrived. */
  public static boolean requested() {
    return received != null;
  }

  /** The signal that asked for the stop (SIGTERM, SIGINT), or null. */
  public static String signal() {
    return received;
  }

  /** The exit code of the stop: 128 + the signal's number; 0 when none arrived. */
  public static int exitCode() {
    return exitCode;
  }

  /**
   * Registers work that reads {@link #requested} and ends cleanly (a checkpoint, its model closed):
   * after a first signal the process exits only once every watch is closed. Open it around the
   * whole lifetime of the native resources the work uses.
   */
  public static Watch watch() {
    synchronized (LOCK) {
      watchers++;
    }
    return WATCH;
  }

  /** An open {@link #watch}; closing it ends it. */
  @FunctionalInterface
  public interface Watch extends AutoCloseable {
    @Override
    void close();
  }

  private static final Watch WATCH =
      () -> {
        synchronized (LOCK) {
          watchers--;
          LOCK.notifyAll();
        }
      };
}
