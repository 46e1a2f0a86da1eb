package org.meft.datasets.metric;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** GSM8K's lenient accuracy: the final number by the project's rules, compared as a number. */
class NumberAccuracyTest {
  private final NumberAccuracy metric = new NumberAccuracy();

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        // after ####, even with a later number
        "She sold 48 + 24 = 72 clips.\\n#### 72|72",
        "#### 1,000 and 5 more|1000",
        "#### $1,234,567.50|1234567.50",
        "#### -3|-3",
        "#### .5|0.5",
        // no number after ####: "The answer is"
        "#### none. The answer is 18.|18",
        "so THE ANSWER IS $1,000.|1000",
        // else the last number
        "3 apples and 4 pears make 7 fruit.|7",
        "It costs 2.50 dollars|2.5",
        "thousands: 12,34 is not one|34",
      })
  void findsTheFinalNumber(String text, String expected) {
    BigDecimal found = NumberAccuracy.finalNumber(text.replace("\\n", "\n")).orElseThrow();
    assertEquals(0, new BigDecimal(expected).compareTo(found), text + " gave " + found);
  }

  @Test
  void comparesAsNumbers() {
    assertEquals(1.0, metric.score("The answer is 1,000.0", List.of("1000"))[0]);
    assertEquals(1.0, metric.score("#### 1000", List.of("1,000"))[0]);
    assertEquals(1.0, metric.score("0.50", List.of("#### .5"))[0]);
    assertEquals(0.0, metric.score("#### 1001", List.of("1000"))[0]);
  }

  @Test
  void aCharacterWhoseLowerCaseIsLongerMovesNothing() {
    // Regression: "İ" lower-cases to two chars; the position of "the answer is" found in a
    // lower-cased copy used to overrun the text (StringIndexOutOfBoundsException) or land past 72.
    assertEquals(new BigDecimal("72"), NumberAccuracy.finalNumber("İİİİ The answer is 72").get());
    assertEquals(
        new BigDecimal("72"), NumberAccuracy.finalNumber("İİİİ The answer is 72 and 5").get());
  }

  @Test
  void aPredictionWithoutANumberScoresZero() {
    assertTrue(NumberAccuracy.finalNumber("I do not know").isEmpty());
    assertEquals(0.0, metric.score("I do not know", List.of("7"))[0]);
    assertEquals(0.0, metric.score("", List.of("7"))[0]);
  }
}
