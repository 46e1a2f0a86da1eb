package org.meft.format;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Temporary files for atomic writes (write beside the target, then rename over it), created with
 * the mode every other file gets: the process's umask applied to 0666, as for a manifest or a
 * config.json. {@link Files#createTempFile} would make them 0600, so that a checkpoint's weights
 * would be unreadable to the group that can read its manifest.
 */
public final class AtomicFiles {
  private AtomicFiles() {}

  /** Creates a new empty hidden file beside {@code file}, named after it, and returns it. */
  public static Path createSibling(Path file) throws IOException {
    Path folder = file.toAbsolutePath().getParent();
    while (true) {
      String suffix = Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36);
      Path tmp = folder.resolve("." + file.getFileName() + "." + suffix + ".tmp");
      try {
        return Files.createFile(tmp);
      } catch (FileAlreadyExistsException e) {
        // another writer's name: draw again
      }
    }
  }
}
