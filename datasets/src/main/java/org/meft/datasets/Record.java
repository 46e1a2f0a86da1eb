package org.meft.datasets;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The common schema of every prepared record, whatever its dataset: the columns of the prepared
 * Parquet shards before tokenization.
 *
 * @param dataset the dataset's name ({@code nq}, {@code squad}, {@code gsm8k}, {@code toolbench})
 * @param split {@code train} or {@code test}
 * @param id stable and unique within the dataset
 * @param prompt the model's input
 * @param target what the model learns to produce after the prompt
 * @param references every acceptable answer, as the dataset's metric reads them
 * @param extras dataset-specific fields, as text, in key order (so rows are reproducible)
 */
public record Record(
    String dataset,
    Split split,
    String id,
    String prompt,
    String target,
    List<String> references,
    Map<String, String> extras) {
  public Record {
    if (dataset == null || dataset.isBlank() || split == null) {
      throw new IllegalArgumentException(
          "record needs a dataset and a split, got " + dataset + ", " + split);
    }
    check(id, prompt, target, references);
    references = List.copyOf(references);
    extras = Collections.unmodifiableMap(new TreeMap<>(Map.copyOf(extras)));
  }

  /** A record of {@code dataset} from an example and its split. */
  public static Record of(String dataset, Split split, Example example) {
    return new Record(
        dataset,
        split,
        example.id(),
        example.prompt(),
        example.target(),
        example.references(),
        example.extras());
  }

  static void check(String id, String prompt, String target, List<String> references) {
    if (id == null || id.isBlank()) {
      throw new IllegalArgumentException("record id must be non-blank, got '" + id + "'");
    }
    if (prompt == null || target == null || target.isEmpty()) {
      throw new IllegalArgumentException(
          "record " + id + " needs a prompt and a non-empty target, got '" + target + "'");
    }
    if (references == null || references.isEmpty()) {
      throw new IllegalArgumentException("record " + id + " needs at least one reference");
    }
  }
}
