package org.meft.datasets.prepare;

import java.io.Serializable;
import java.nio.file.Path;
import org.meft.datasets.FileType;
import org.meft.datasets.SplitRole;

/**
 * One raw input file of one dataset, as the manifest lists it.
 *
 * @param dataset the dataset's name
 * @param path the absolute, normalised path
 * @param type the format, by extension
 * @param size bytes
 * @param sha256 SHA-256 of the content, lower-case hex
 * @param role which split its records go to
 */
public record SourceFile(
    String dataset, String path, FileType type, long size, String sha256, SplitRole role)
    implements Serializable {
  private static final long serialVersionUID = 1L;

  /** The file's name without its folder. */
  public String fileName() {
    return Path.of(path).getFileName().toString();
  }
}
