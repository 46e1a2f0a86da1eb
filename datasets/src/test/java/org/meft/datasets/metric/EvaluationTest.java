package org.meft.datasets.metric;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The harness averages each metric value and merges partial evaluations. */
class EvaluationTest {
  @Test
  void averagesEveryValue() {
    Evaluation evaluation =
        new Evaluation(ExactMatchF1.squad())
            .add("Denver Broncos", List.of("Denver Broncos"))
            .add("Broncos of Denver", List.of("Denver Broncos"))
            .add(null, List.of("Carolina Panthers"));
    assertEquals(3, evaluation.count());
    Map<String, Double> means = evaluation.means();
    assertEquals(List.of("exact_match", "f1"), List.copyOf(means.keySet()));
    assertEquals(1.0 / 3, means.get("exact_match"), 1e-15);
    assertEquals((1.0 + 0.8 + 0.0) / 3, means.get("f1"), 1e-15);
  }

  @Test
  void mergesPartialEvaluations() {
    Evaluation left = new Evaluation(new NumberAccuracy()).add("#### 3", List.of("3"));
    Evaluation right =
        new Evaluation(new NumberAccuracy()).add("#### 4", List.of("3")).add("7", List.of("7"));
    Evaluation merged = left.merge(right);
    assertEquals(3, merged.count());
    assertEquals(2.0 / 3, merged.means().get("accuracy_lenient"), 1e-15);
    assertThrows(
        IllegalArgumentException.class, () -> merged.merge(new Evaluation(new ApiSetIou())));
  }

  @Test
  void countsUnparsedPredictionsAsZero() {
    Evaluation evaluation =
        new Evaluation(new Gsm8kExactMatch())
            .add("#### 72", List.of("72"))
            .add("The answer is 72", List.of("72"))
            .add(null, List.of("72"));
    assertEquals(3, evaluation.count());
    assertEquals(2, evaluation.unparsed());
    assertEquals(1.0 / 3, evaluation.means().get("exact_match_strict"), 1e-15);
  }

  @Test
  void nothingScoredMeansZero() {
    assertEquals(Map.of("iou", 0.0, "iou_lenient", 0.0), new Evaluation(new ApiSetIou()).means());
  }
}
