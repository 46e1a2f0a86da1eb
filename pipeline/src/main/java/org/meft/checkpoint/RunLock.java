package org.meft.checkpoint;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.meft.format.CheckpointException;

/**
 * An exclusive lock on a run directory, so that two processes never train into one (a second
 * attempt of the same run, say): the second would delete the first's checkpoint in progress as
 * debris and interleave its own. Held on {@value #FILE} in the directory for the whole run; the
 * operating system releases it if the process dies. The file itself stays.
 */
public final class RunLock implements AutoCloseable {
  public static final String FILE = ".lock";
  private final Path file;
  private final FileChannel channel;
  private final FileLock lock;

  private RunLock(Path file, FileChannel channel, FileLock lock) {
    this.file = file;
    this.channel = channel;
    this.lock = lock;
  }

  /**
   * Locks {@code runDir}, creating it if needed.
   *
   * @throws CheckpointException if another process (or this one) holds the lock, or the directory
   *     cannot be created
   */
  public static RunLock acquire(Path runDir) {
    Path file = runDir.resolve(FILE);
    FileChannel channel;
    try {
      Files.createDirectories(runDir);
      channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    } catch (IOException e) {
      throw new CheckpointException(runDir, "cannot create the run directory's lock: " + e);
    }
    FileLock lock;
    try {
      lock = channel.tryLock();
    } catch (OverlappingFileLockException e) {
      lock = null; // held by this process
    } catch (IOException e) {
      closeQuietly(channel);
      throw new CheckpointException(file, "cannot lock the run directory: " + e);
    }
    if (lock == null) {
      closeQuietly(channel);
      throw new CheckpointException(
          file,
          "another process is training into this run directory; wait for it to end, or choose"
              + " another output directory");
    }
    return new RunLock(file, channel, lock);
  }

  private static void closeQuietly(FileChannel channel) {
    try {
      channel.close();
    } catch (IOException e) {
      // the lock was not taken; nothing to undo
    }
  }

  @Override
  public void close() {
    try {
      lock.release();
      channel.close();
    } catch (IOException e) {
      throw new CheckpointException(file, "cannot release the run lock: " + e);
    }
  }
}
