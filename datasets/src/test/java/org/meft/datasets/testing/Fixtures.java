package org.meft.datasets.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.stream.Stream;
import org.meft.tokenizer.BpeTokenizerTrainer;

/**
 * Test inputs: the hand-written fixtures (official layouts, good and bad records), the shared
 * datasets and tokenizer in {@code ../shared} when present, and a tokenizer trained on the spot
 * when not.
 */
public final class Fixtures {
  private Fixtures() {}

  /** A copy of the fixture tree (nq_open, squad, gsm8k, toolbench) under {@code dir}. */
  public static Path copy(Path dir) {
    try {
      Path source = Path.of(Fixtures.class.getResource("/fixtures").toURI());
      try (Stream<Path> tree = Files.walk(source)) {
        for (Path path : tree.toList()) {
          Path target = dir.resolve(source.relativize(path).toString());
          if (Files.isDirectory(path)) {
            Files.createDirectories(target);
          } else {
            Files.copy(path, target);
          }
        }
      }
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Appends a line that is not valid UTF-8 (a lone continuation byte inside a string). */
  public static void appendInvalidUtf8Line(Path file) {
    byte[] line = {
      '{',
      '"',
      'q',
      'u',
      'e',
      's',
      't',
      'i',
      'o',
      'n',
      '"',
      ':',
      ' ',
      '"',
      'b',
      'a',
      'd',
      ' ',
      (byte) 0x80,
      '"',
      ',',
      ' ',
      '"',
      'a',
      'n',
      's',
      'w',
      'e',
      'r',
      '"',
      ':',
      ' ',
      '[',
      '"',
      'x',
      '"',
      ']',
      '}',
      '\n'
    };
    try {
      Files.write(file, line, StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The shared folder: system property {@code meft.shared}, else ../shared. */
  public static Path shared() {
    String configured = System.getProperty("meft.shared");
    return Path.of(configured != null ? configured : "../shared").toAbsolutePath().normalize();
  }

  /** {@code relative} under the shared folder; skips the calling test when it is absent. */
  public static Path requireShared(String relative) {
    Path path = shared().resolve(relative);
    assumeTrue(
        Files.exists(path),
        () -> path + " is absent (the shared datasets and models beside the repository): skipped");
    return path;
  }

  /**
   * The stories260K tokenizer from ../shared, or, without it, a LLaMA-layout BPE tokenizer (512
   * tokens, BOS {@code <s>} 1, EOS {@code </s>} 2) trained on the default corpus into {@code dir}.
   */
  public static Path tokenizer(Path dir) {
    Path shared = shared().resolve("models/stories260K-hf/tokenizer.json");
    if (Files.exists(shared)) {
      return shared;
    }
    Path trained = dir.resolve("tokenizer.json");
    try {
      if (!Files.exists(trained)) {
        BpeTokenizerTrainer.write(trained, BpeTokenizerTrainer.defaultCorpus(), 512);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return trained;
  }
}
