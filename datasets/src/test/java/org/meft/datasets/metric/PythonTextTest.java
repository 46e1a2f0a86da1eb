package org.meft.datasets.metric;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code str.lower()} against CPython 3: every expected value below is what Python printed for the
 * same string ({@code python3 -c 'print(ascii(s.lower()))'}).
 */
class PythonTextTest {
  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "A-\u03a3|a-\u03c3",
        "A\u03a3|a\u03c2",
        "\u0391\u03a3.|\u03b1\u03c2.",
        "\u03a3|\u03c3",
        "A.\u03a3|a.\u03c2",
        "A'\u03a3|a'\u03c2",
        "A:\u03a3|a:\u03c2",
        "A\u03a3-|a\u03c2-",
        "\u03a3\u0391|\u03c3\u03b1",
        "A \u03a3|a \u03c3",
        "1\u03a3|1\u03c3",
        "\u0391\u03a3\u0391|\u03b1\u03c3\u03b1",
        "\u03a3\u03a3|\u03c3\u03c2",
        "\u1f48\u0394\u03a5\u03a3\u03a3\u0395\u038e\u03a3|\u1f40\u03b4\u03c5\u03c3\u03c3\u03b5\u03cd\u03c2",
        "\u03a3\u0301A|\u03c3\u0301a",
        "A\u03a3\u0301|a\u03c2\u0301",
        "A\u00ad\u03a3|a\u00ad\u03c2",
        "A\u03a3\u00adB|a\u03c3\u00adb",
        "\u0130|i\u0307",
        "\u01c5|\u01c6",
        "\u1e9e|\u00df",
        "\ud801\udc00x|\ud801\udc28x",
      })
  void lowerCasesAsPython(String text, String python) {
    assertEquals(python, PythonText.lower(text));
  }

  @Test
  void aSigmaAfterAHyphenMatchesAsInTheOfficialNqScorer() {
    assertEquals(1, ExactMatchF1.nqOpen().score("A-\u03a3", List.of("a\u03c3"))[0]);
    assertEquals(1, ExactMatchF1.squad().score("A-\u03a3", List.of("a\u03c3"))[0]);
  }

  @Test
  void toolBenchKeysLowerCaseAsPython() {
    assertEquals(Set.of("a-\u03c3\nx"), ApiSetIou.parse("A-\u03a3 :: X"));
    assertEquals("a-\u03c3", ApiSetIou.authorsKey("A-\u03a3"));
  }
}
