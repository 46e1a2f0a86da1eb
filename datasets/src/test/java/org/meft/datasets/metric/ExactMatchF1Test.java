package org.meft.datasets.metric;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Exact match and F1 against the official SQuAD v1.1 script ({@code evaluate-v1.1.py}): every
 * expected value below is what that script's {@code normalize_answer}, {@code exact_match_score}
 * and {@code f1_score} return for the same strings (run with Python 3).
 */
class ExactMatchF1Test {
  private final ExactMatchF1 metric = ExactMatchF1.squad();

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      quoteCharacter = '"',
      value = {
        "The Denver Broncos!|denver broncos",
        "\"  A  quick\tbrown   fox. \"|quick brown fox",
        "an apple a day|apple day",
        "theatre of the absurd|theatre of absurd",
        "Don't-stop, (the) music|dontstop music",
        "Thé café|thé café",
        "THE\u00a0END|end",
        "Anthem|anthem",
        "U.S.A.|usa",
        "the the the|\"\"",
      })
  void normalisesAsTheOfficialScript(String text, String expected) {
    assertEquals(expected, ExactMatchF1.normalize(text));
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "Denver Broncos|the Denver Broncos|1|1.0",
        "Broncos of Denver|Denver Broncos|0|0.8",
        "the cat sat on the mat|cat on mat|0|0.8571428571428571",
        "Carolina|Denver Broncos|0|0.0",
        "a a b|a b b|0|0.6666666666666666",
        "Saint Bernadette Soubirous|Saint Bernadette|0|0.8",
        "in the 10th century|10th and 11th centuries|0|0.28571428571428575",
      })
  void scoresAsTheOfficialScript(String prediction, String reference, int exact, double f1) {
    assertEquals(exact, ExactMatchF1.exactMatch(prediction, reference));
    assertEquals(f1, ExactMatchF1.f1(prediction, reference), 1e-15);
  }

  @Test
  void takesTheBestReferenceForEachValue() {
    // EM from the second reference, F1 from the first: each is maximised on its own, as in the
    // official script's metric_max_over_ground_truths.
    assertArrayEquals(
        new double[] {1.0, 1.0},
        metric.score("Denver", List.of("Denver Broncos", "denver")),
        1e-15);
    assertArrayEquals(
        new double[] {0.0, 0.8},
        metric.score("Broncos of Denver", List.of("Carolina", "Denver Broncos")),
        1e-15);
  }
}
