package org.meft.stop;

import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Keeps the process from exiting while a thread is inside the native engine (libtorch). The JVM's
 * exit runs the C library's exit handlers, which destroy libtorch's globals; a thread still inside
 * a libtorch call then reads freed memory and the JVM crashes (the hs_err of issue 16 showed {@code
 * torchBackward} reading the destroyed {@code at::accelerator} registry).
 *
 * <p>Code that calls into the engine runs inside a {@link Section} (a read lock: any number of
 * threads at once, reentrant); {@link #exit} takes the write lock, so it waits for every section to
 * end and lets none begin, then exits. A thread that wants a section after that waits (in Java,
 * outside native code) until the process is gone.
 */
public final class NativeGate {
  private static final ReentrantReadWriteLock LOCK = new ReentrantReadWriteLock(true);
  private static final Section SECTION = () -> LOCK.readLock().unlock();

  private NativeGate() {}

  /** Work inside the native engine; closing it ends the section. */
  @FunctionalInterface
  public interface Section extends AutoCloseable {
    @Override
    void close();
  }

  /**
   * Begins a section; waits while the process is exiting.
   *
   * @throws IllegalStateException if the thread is interrupted while it waits
   */
  public static Section enter() {
    try {
      LOCK.readLock().lockInterruptibly();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while the process is exiting", e);
    }
    return SECTION;
  }

  /**
   * Exits the JVM with {@code code} once no thread is inside a section (shutdown hooks run as with
   * {@link System#exit}); never returns.
   *
   * @throws IllegalStateException when called from inside a section (it would wait for itself)
   */
  public static void exit(int code) {
    if (LOCK.getReadHoldCount() > 0) {
      throw new IllegalStateException("exit from inside a native section");
    }
    LOCK.writeLock().lock(); // never released: the process ends
    System.exit(code);
  }
}
