package org.meft.datasets.prepare;

import java.io.Serializable;
import java.nio.file.Path;
import org.meft.datasets.Dataset;
import org.meft.datasets.Datasets;
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
 * @param closedBook whether its records are asked closed-book ({@link Dataset#closedBook})
 */
public record SourceFile(
    String dataset,
    String path,
    FileType type,
    long size,
    String sha256,
    SplitRole role,
    boolean closedBook)
    implements Serializable {
  private static final long serialVersionUID = 2L;

  /** A file asked as its dataset asks it. */
  public SourceFile(
      String dataset, String path, FileType type, long size, String sha256, SplitRole role) {
    this(dataset, path, type, size, sha256, role, false);
  }

  /** This file, closed-book or not. */
  public SourceFile withClosedBook(boolean closed) {
    return new SourceFile(dataset, path, type, size, sha256, role, closed);
  }

  /** The dataset that parses this file's records. */
  public Dataset parser() {
    Dataset named = Datasets.byName(dataset);
    return closedBook ? named.closedBook() : named;
  }

  /** The file's name without its folder. */
  public String fileName() {
    return Path.of(path).getFileName().toString();
  }
}
