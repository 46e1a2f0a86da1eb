package org.meft.datasets.metric;

import java.io.Serializable;
import java.util.List;

/**
 * A per-example score of a prediction against a record's references. The references are the
 * record's {@code references} column: the acceptable answers (NQ-open, SQuAD, GSM8K) or the gold
 * API lines (ToolBench); each metric says how it reads them. {@link Evaluation} averages scores.
 */
public interface Metric extends Serializable {
  /** The names of the values {@link #score} returns, in order (e.g. {@code exact_match, f1}). */
  List<String> names();

  /** One value per name, each in [0, 1]. */
  double[] score(String prediction, List<String> references);
}
