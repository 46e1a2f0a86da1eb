package org.meft.datasets;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * One validated record of a dataset, before its split is known: the fields of the common schema
 * that the dataset itself decides.
 *
 * @param id a stable id, unique within the dataset (the source's id, or a hash of the question)
 * @param prompt the model's input, formatted by the dataset's prompt template
 * @param target the text the model learns to produce after the prompt
 * @param references every acceptable answer, in the form the dataset's metric scores against
 * @param extras dataset-specific fields kept as text (e.g. SQuAD's title), in key order
 */
public record Example(
    String id, String prompt, String target, List<String> references, Map<String, String> extras) {
  public Example {
    Record.check(id, prompt, target, references);
    references = List.copyOf(references);
    extras = Collections.unmodifiableMap(new TreeMap<>(Map.copyOf(extras)));
  }
}
