package org.meft.datasets;

import java.util.Locale;
import java.util.Optional;

/**
 * The raw file formats the readers take, chosen by file extension: JSON Lines (one JSON object per
 * line: NQ-open, GSM8K), a JSON document (SQuAD v1.1's nested layout, ToolBench's array) and
 * Parquet (the Hugging Face Hub's exports).
 */
public enum FileType {
  JSONL(".jsonl"),
  JSON(".json"),
  PARQUET(".parquet");

  private final String extension;

  FileType(String extension) {
    this.extension = extension;
  }

  public String extension() {
    return extension;
  }

  /** The type of a file by its name's extension (case-insensitive), or empty for other files. */
  public static Optional<FileType> of(String fileName) {
    String lower = fileName.toLowerCase(Locale.ROOT);
    for (FileType type : values()) {
      if (lower.endsWith(type.extension)) {
        return Optional.of(type);
      }
    }
    return Optional.empty();
  }
}
