package org.meft.datasets.metric;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.meft.datasets.Dataset;
import org.meft.datasets.Datasets;

/**
 * No string makes any dataset's metric throw: random Unicode (unpaired surrogates and supplementary
 * characters included), characters whose case mapping changes length, the texts the extractors look
 * for, and empty strings; every value stays in [0, 1].
 */
class MetricPropertyTest {
  private static final String[] PIECES = {
    "",
    " ",
    "\n",
    "\n\n",
    "\r\n",
    "####",
    "#### ",
    "the answer is",
    "THE ANSWER IS",
    "::",
    " :: ",
    "API MAIN INFO: ",
    ",",
    ".",
    "$",
    "-",
    "1,000",
    "72",
    "0.5",
    "İ",
    "ß",
    "ﬁ",
    "ΐ",
    "Σ",
    "ς",
    "ǅ",
    "\u0301",
    "é",
    "\u00a0",
    "\u2028",
    "\ud83d\ude00",
    "\ud800",
    "\udc00",
    "a",
    "an",
    "the",
    "_"
  };

  @Test
  void noStringMakesAMetricThrow() {
    Random random = new Random(20240611);
    for (int trial = 0; trial < 3000; trial++) {
      String prediction = randomText(random);
      List<String> references = new ArrayList<>();
      for (int r = random.nextInt(3); r > 0; r--) {
        references.add(randomText(random));
      }
      for (Dataset dataset : Datasets.ALL) {
        Metric metric = dataset.metric();
        double[] values = metric.score(prediction, references);
        assertEquals(metric.names().size(), values.length);
        for (double value : values) {
          assertTrue(value >= 0 && value <= 1, dataset.name() + " gave " + value);
        }
        metric.parses(prediction);
      }
    }
  }

  @Test
  void aMetricThatThrowsScoresZeroAndCountsAsUnparsed() {
    Metric throwing =
        new Metric() {
          @Override
          public List<String> names() {
            return List.of("x", "y");
          }

          @Override
          public double[] score(String prediction, List<String> references) {
            throw new IllegalStateException("cannot read " + prediction);
          }
        };
    Metric.Score score = throwing.scoreSafely("anything", List.of("a"));
    assertTrue(score.unparsed());
    assertEquals(2, score.values().length);
    assertFalse(new Gsm8kExactMatch().scoreSafely(null, List.of("1")).values()[0] > 0);
  }

  private static String randomText(Random random) {
    StringBuilder text = new StringBuilder();
    for (int n = random.nextInt(8); n > 0; n--) {
      if (random.nextBoolean()) {
        text.append(PIECES[random.nextInt(PIECES.length)]);
      } else {
        text.appendCodePoint(random.nextInt(Character.MAX_CODE_POINT + 1));
      }
    }
    return text.toString();
  }
}
