package org.meft.datasets.prepare;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/** The SHA-256 of every file under a directory, by relative path: equal maps, equal trees. */
final class Trees {
  private Trees() {}

  static Map<String, String> digest(Path root) throws IOException {
    Map<String, String> digests = new TreeMap<>();
    try (Stream<Path> tree = Files.walk(root)) {
      for (Path file : tree.filter(Files::isRegularFile).toList()) {
        digests.put(root.relativize(file).toString(), SourceFiles.sha256(file));
      }
    }
    return digests;
  }
}
