package org.meft.format;

import java.nio.file.Path;

/**
 * A checkpoint, config or tokenizer file that cannot be used: the message names the file and, where
 * there is one, the tensor, and says what was expected. Thrown for user errors, never for bugs.
 */
public final class CheckpointException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public CheckpointException(Path file, String message) {
    super(file + ": " + message);
  }

  public CheckpointException(Path file, String tensor, String message) {
    super(file + ": tensor '" + tensor + "': " + message);
  }

  public CheckpointException(Path file, String tensor, String message, Throwable cause) {
    super(file + ": tensor '" + tensor + "': " + message, cause);
  }

  public CheckpointException(Path file, String message, Throwable cause) {
    super(file + ": " + message, cause);
  }
}
