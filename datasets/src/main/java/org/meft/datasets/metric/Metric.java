package org.meft.datasets.metric;

import java.io.Serializable;
import java.util.List;

/**
 * A per-example score of a prediction against a record's references. The references are the
 * record's {@code references} column: the acceptable answers (NQ-open, SQuAD, GSM8K) or the gold
 * API lines (ToolBench); each metric says how it reads them. {@link Evaluation} averages scores.
 */
public interface Metric extends Serializable {
  /**
   * The column names of the values {@link #score} returns, in order, the headline first (e.g.
   * {@code exact_match, f1}); letters, digits and underscores only, so they serve as Parquet, CSV
   * and SQL column names.
   */
  List<String> names();

  /**
   * The names as the metric's users know them, in {@link #names}' order: lm-evaluation-harness
   * writes GSM8K's {@code exact_match,strict-match}, which is no comfortable column name. Default:
   * {@link #names}.
   */
  default List<String> labels() {
    return names();
  }

  /** One value per name, each in [0, 1]. */
  double[] score(String prediction, List<String> references);

  /**
   * Whether the headline metric finds what it reads in {@code prediction} (GSM8K's strict match: a
   * {@code #### N}); a prediction that does not parse scores 0 on it. Default: every text parses.
   */
  default boolean parses(String prediction) {
    return true;
  }

  /**
   * {@link #score} that never fails on a prediction's content: a null prediction is the empty text,
   * and a prediction the metric throws on scores 0 everywhere and counts as unparsed.
   */
  default Score scoreSafely(String prediction, List<String> references) {
    String text = prediction == null ? "" : prediction;
    try {
      return new Score(score(text, references), !parses(text));
    } catch (RuntimeException e) {
      return new Score(new double[names().size()], true);
    }
  }

  /** One prediction's values (in {@link #names}' order) and whether it failed to parse. */
  record Score(double[] values, boolean unparsed) {}
}
