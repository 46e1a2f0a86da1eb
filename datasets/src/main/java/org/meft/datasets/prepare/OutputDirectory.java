package org.meft.datasets.prepare;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * The re-run policy of the output directory: a job never mixes two runs. It writes everything to a
 * temporary sibling ({@code NAME.tmp-UUID}; Spark skips paths starting with a dot) and renames it
 * into place when complete, so readers see the whole output or none. An existing output is refused
 * unless {@code overwrite} is set; then it is replaced whole (renamed aside, the new one renamed
 * in, the old one deleted), and only when it holds a {@value #MANIFEST}, so that a mistyped path
 * never deletes unrelated data.
 */
public final class OutputDirectory {
  public static final String MANIFEST = "_manifest.json";

  private OutputDirectory() {}

  /** Fails unless {@code output} can be written under the policy. */
  static void check(Path output, boolean overwrite) {
    if (!Files.exists(output)) {
      return;
    }
    if (!overwrite) {
      throw new IllegalArgumentException(
          "output " + output + " already exists: choose a new --output or pass --overwrite");
    }
    if (!Files.isDirectory(output) || !Files.exists(output.resolve(MANIFEST))) {
      throw new IllegalArgumentException(
          "output "
              + output
              + " exists and is not a prepared dataset (no "
              + MANIFEST
              + "): refusing to replace it");
    }
  }

  /** A fresh temporary sibling of {@code output} (not created). */
  public static Path temporary(Path output) {
    Path absolute = output.toAbsolutePath().normalize();
    return absolute.resolveSibling(
        absolute.getFileName() + ".tmp-" + UUID.randomUUID().toString().substring(0, 8));
  }

  /** Moves the complete {@code temporary} to {@code output}, replacing an old one if allowed. */
  static void publish(Path temporary, Path output, boolean overwrite) {
    check(output, overwrite);
    try {
      Files.createDirectories(output.toAbsolutePath().getParent());
      if (!Files.exists(output)) {
        Files.move(temporary, output, StandardCopyOption.ATOMIC_MOVE);
        return;
      }
      Path old = output.resolveSibling(temporary.getFileName() + "-old");
      Files.move(output, old, StandardCopyOption.ATOMIC_MOVE);
      Files.move(temporary, output, StandardCopyOption.ATOMIC_MOVE);
      delete(old);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot move the prepared data to " + output, e);
    }
  }

  /** Deletes a directory tree, if present. */
  public static void delete(Path root) {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> tree = Files.walk(root)) {
      for (Path path : tree.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(path);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
