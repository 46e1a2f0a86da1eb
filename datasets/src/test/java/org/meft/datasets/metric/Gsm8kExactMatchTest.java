package org.meft.datasets.metric;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * GSM8K exact match as lm-evaluation-harness's {@code gsm8k.yaml} (version 3.0) defines it: each
 * expected value follows the yaml's filters ({@code findall}, {@code group_select}, {@code
 * take_first}) and {@code exact_match_hf_evaluate}'s {@code regexes_to_ignore} and {@code
 * ignore_case}, worked by hand from the Python source.
 */
class Gsm8kExactMatchTest {
  private final Gsm8kExactMatch metric = new Gsm8kExactMatch();

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        // prediction | strict-match extraction | flexible-extract extraction
        "She sold 24 + 48 = 72 clips.\\n#### 72|72|72",
        // strict takes the first mark, flexible the last number
        "#### 5\\nno, wait: #### 72|5|72",
        "#### 72\\nThat is 3 boxes.|72|3",
        // commas are kept by both filters (removed later by exact_match)
        "#### 1,000|1,000|1,000",
        // "$" may not follow "#### " in strict; flexible keeps it
        "#### $72|[invalid]|$72",
        // a trailing period is part of both matches
        "#### 72.|72.|72.",
        "The answer is 72.|[invalid]|72.",
        "#### -3|-3|-3",
        // a one-character run of [$0-9.,] is no match: the last is "5" by the second group
        "72 apples, 5 left|[invalid]|5",
        "Wait...|[invalid]|...",
        "no number at all|[invalid]|[invalid]",
        "####72|[invalid]|72",
      })
  void extractsAsTheHarnessFilters(String prediction, String strict, String flexible) {
    String text = prediction.replace("\\n", "\n");
    assertEquals(strict, Gsm8kExactMatch.strictMatch(text));
    assertEquals(flexible, Gsm8kExactMatch.flexibleExtract(text));
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        // prediction | reference | strict | flexible
        "#### 72|72|1|1",
        "#### 1,000|1000|1|1",
        "#### 72.|72|1|1",
        "#### $72|72|0|1",
        "The answer is $1,000.|1000|0|1",
        "#### 5\\nno, wait: #### 72|72|0|1",
        "#### 72.00|72|0|0",
        "#### 072|72|0|0",
        "#### 72\\nThat is 3 boxes.|72|1|0",
        "Wait...|72|0|0",
        // the reference may be the whole solution: (?s).*#### cuts it to its answer
        "#### 72|Natalia sold 48/2 = 24 clips in May.\\nShe sold 48+24 = 72 clips.\\n#### 72|1|1",
        "#### 1,234|#### 1,234|1|1",
      })
  void scoresAsTheHarness(String prediction, String reference, int strict, int flexible) {
    double[] values =
        metric.score(prediction.replace("\\n", "\n"), List.of(reference.replace("\\n", "\n")));
    assertEquals(strict, values[0], prediction);
    assertEquals(flexible, values[1], prediction);
  }

  @Test
  void normalisesWithTheYamlsRegexesInOrderThenLowerCase() {
    assertEquals("1000", Gsm8kExactMatch.normalize("$1,000."));
    assertEquals("[invalid]", Gsm8kExactMatch.normalize("[invalid]"));
    // Python's $ matches before a final "\n" only; Java's would also before "\r".
    assertEquals("7\n", Gsm8kExactMatch.normalize("7.\n"));
    assertEquals("7.\r", Gsm8kExactMatch.normalize("7.\r"));
    assertEquals("abc", Gsm8kExactMatch.normalize("ABC"));
  }

  @Test
  void theStrictMatchIsTheHeadlineAndAMissingMarkIsUnparsed() {
    assertEquals("exact_match,strict-match", metric.labels().get(0));
    assertEquals("exact_match_strict", metric.names().get(0));
    assertTrue(metric.parses("#### 7"));
    assertFalse(metric.parses("The answer is 7"));
  }

  @Test
  void aCharacterWhoseLowerCaseIsLongerIsScoredNotThrown() {
    // Regression for the report's FAILED_EXECUTE_UDF: no "####", an "İ" before "the answer is".
    assertArrayEquals(new double[] {0, 1, 1}, metric.score("İİİİ The answer is 72", List.of("72")));
    assertArrayEquals(
        new double[] {0, 0, 1}, metric.score("İİİİ The answer is 72 and 5", List.of("72")));
    Metric.Score score = metric.scoreSafely("İİİİ The answer is 72", List.of("72"));
    assertTrue(score.unparsed());
  }
}
