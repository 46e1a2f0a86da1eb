package org.meft.datasets.prepare;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.meft.datasets.Datasets;

/**
 * What {@link PrepareJob} prepares, and how.
 *
 * @param inputs files or directories (see {@link SourceFiles}); at least one
 * @param datasets dataset names or folder names ({@code nq}, {@code nq_open}, ...), stored as the
 *     canonical names in {@link Datasets#ALL} order without repeats; at least one
 * @param tokenizer a Hugging Face {@code tokenizer.json} or the model folder holding it
 * @param output the output directory, created whole or not at all
 * @param maxLength maximum sequence length in tokens, BOS and EOS included, in [{@value
 *     #MIN_MAX_LENGTH}, {@value #MAX_MAX_LENGTH}]; default {@value #DEFAULT_MAX_LENGTH}
 * @param shards Parquet files per dataset and split, in [1, {@value #MAX_SHARDS}] (fewer when a
 *     split has fewer records); default {@value #DEFAULT_SHARDS}
 * @param closedBook ask every dataset closed-book ({@link org.meft.datasets.Dataset#closedBook}:
 *     SQuAD without its passage)
 * @param testFraction the share of records sent to test where files have no split, in [0, 1];
 *     default {@value #DEFAULT_TEST_FRACTION}
 * @param overwrite replace an existing output (only one that this job wrote) instead of refusing
 */
public record PrepareConfig(
    List<Path> inputs,
    List<String> datasets,
    Path tokenizer,
    Path output,
    int maxLength,
    int shards,
    double testFraction,
    boolean overwrite,
    boolean closedBook) {
  public static final int DEFAULT_MAX_LENGTH = 512;
  public static final int MIN_MAX_LENGTH = 8;
  public static final int MAX_MAX_LENGTH = 1 << 20;
  public static final int DEFAULT_SHARDS = 1;
  public static final int MAX_SHARDS = 10_000;
  public static final double DEFAULT_TEST_FRACTION = 0.2;

  public PrepareConfig {
    if (inputs == null || inputs.isEmpty()) {
      throw new IllegalArgumentException("inputs must name at least one file or directory");
    }
    if (datasets == null || datasets.isEmpty()) {
      throw new IllegalArgumentException(
          "datasets must name at least one of " + String.join(", ", Datasets.names()));
    }
    if (tokenizer == null || output == null) {
      throw new IllegalArgumentException("tokenizer and output are required");
    }
    if (maxLength < MIN_MAX_LENGTH || maxLength > MAX_MAX_LENGTH) {
      throw new IllegalArgumentException(
          "maxLength must be in ["
              + MIN_MAX_LENGTH
              + ", "
              + MAX_MAX_LENGTH
              + "], got "
              + maxLength);
    }
    if (shards < 1 || shards > MAX_SHARDS) {
      throw new IllegalArgumentException(
          "shards must be in [1, " + MAX_SHARDS + "], got " + shards);
    }
    if (!(testFraction >= 0 && testFraction <= 1)) {
      throw new IllegalArgumentException("testFraction must be in [0, 1], got " + testFraction);
    }
    inputs = List.copyOf(inputs);
    datasets = canonical(datasets);
  }

  /** A configuration whose datasets are asked as they are (not closed-book). */
  public PrepareConfig(
      List<Path> inputs,
      List<String> datasets,
      Path tokenizer,
      Path output,
      int maxLength,
      int shards,
      double testFraction,
      boolean overwrite) {
    this(inputs, datasets, tokenizer, output, maxLength, shards, testFraction, overwrite, false);
  }

  /** A configuration with every default. */
  public static PrepareConfig of(
      List<Path> inputs, List<String> datasets, Path tokenizer, Path output) {
    return new PrepareConfig(
        inputs,
        datasets,
        tokenizer,
        output,
        DEFAULT_MAX_LENGTH,
        DEFAULT_SHARDS,
        DEFAULT_TEST_FRACTION,
        false);
  }

  private static List<String> canonical(List<String> datasets) {
    List<String> wanted = new ArrayList<>();
    for (String name : datasets) {
      wanted.add(Datasets.byName(name).name());
    }
    return Datasets.names().stream().filter(wanted::contains).toList();
  }
}
