package org.meft.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The real models, datasets and golden outputs in {@code ../shared} beside the repository. Tests
 * that need them skip, saying why, when it is absent (a fresh machine); CI has it.
 */
public final class Shared {
  private Shared() {}

  /**
   * The shared folder: system property {@code meft.shared}, else ../shared from the working dir.
   */
  public static Path root() {
    String configured = System.getProperty("meft.shared");
    return Path.of(configured != null ? configured : "../shared").toAbsolutePath().normalize();
  }

  /** {@code relative} under the shared folder; skips the calling test when it does not exist. */
  public static Path require(String relative) {
    Path path = root().resolve(relative);
    assumeTrue(
        Files.exists(path),
        () -> path + " is absent (the shared models and datasets beside the repository): skipped");
    return path;
  }
}
