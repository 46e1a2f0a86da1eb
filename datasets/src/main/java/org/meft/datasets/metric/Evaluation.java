package org.meft.datasets.metric;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The metric harness: accumulates one metric's scores over predictions and reports their means. The
 * same for every dataset; mergeable, so partial evaluations (e.g. one per Spark partition) combine
 * into one.
 */
public final class Evaluation implements Serializable {
  private static final long serialVersionUID = 1L;

  private final Metric metric;
  private final double[] sums;
  private long count;
  private long unparsed;

  public Evaluation(Metric metric) {
    this.metric = metric;
    this.sums = new double[metric.names().size()];
  }

  /**
   * Scores one prediction against its references and adds the scores; never fails on the
   * prediction's content ({@link Metric#scoreSafely}).
   */
  public Evaluation add(String prediction, List<String> references) {
    Metric.Score score = metric.scoreSafely(prediction, references);
    for (int i = 0; i < sums.length; i++) {
      sums[i] += score.values()[i];
    }
    count++;
    unparsed += score.unparsed() ? 1 : 0;
    return this;
  }

  /** Adds another evaluation of the same metric. */
  public Evaluation merge(Evaluation other) {
    if (!other.metric.names().equals(metric.names())) {
      throw new IllegalArgumentException(
          "cannot merge metrics " + other.metric.names() + " into " + metric.names());
    }
    for (int i = 0; i < sums.length; i++) {
      sums[i] += other.sums[i];
    }
    count += other.count;
    unparsed += other.unparsed;
    return this;
  }

  /** How many predictions were scored. */
  public long count() {
    return count;
  }

  /** How many of them the metric could not parse ({@link Metric#parses}); they scored 0. */
  public long unparsed() {
    return unparsed;
  }

  /** The mean of each metric value, by name in the metric's order; 0 when nothing was scored. */
  public Map<String, Double> means() {
    Map<String, Double> means = new LinkedHashMap<>();
    List<String> names = metric.names();
    for (int i = 0; i < sums.length; i++) {
      means.put(names.get(i), count == 0 ? 0 : sums[i] / count);
    }
    return means;
  }
}
