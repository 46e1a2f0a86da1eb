package org.meft.datasets.metric;

import java.math.BigDecimal;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * GSM8K's lenient accuracy, the project's own rule ({@code accuracy_lenient}, beside
 * lm-evaluation-harness's exact match in {@link Gsm8kExactMatch}): 1 when the final number of the
 * prediction equals the final number of a reference, compared as numbers ({@code 1,000} = {@code
 * 1000.0}), else 0.
 *
 * <p>The final number of a text: the first number after its last {@code ####}; else the first
 * number after its last {@code The answer is} (any case); else its last number. A number is an
 * optional minus sign, digits with optional thousands commas ({@code 1,234,567}), and an optional
 * decimal part ({@code 0.5}, {@code .5}); currency signs and units around it are ignored.
 */
public final class NumberAccuracy implements Metric {
  private static final long serialVersionUID = 1L;
  private static final Pattern NUMBER =
      Pattern.compile("-?(?:\\d{1,3}(?:,\\d{3})+|\\d+)(?:\\.\\d+)?|-?\\.\\d+");
  private static final String FINAL_MARK = "####";
  // Matched in the text itself: a position found in a lower-cased copy can be off when lower-casing
  // changes a character's length ("İ" becomes two chars).
  private static final Pattern ANSWER_IS =
      Pattern.compile("the answer is", Pattern.CASE_INSENSITIVE);

  @Override
  public List<String> names() {
    return List.of("accuracy_lenient");
  }

  @Override
  public double[] score(String prediction, List<String> references) {
    Optional<BigDecimal> predicted = finalNumber(prediction);
    if (predicted.isEmpty()) {
      return new double[] {0};
    }
    for (String reference : references) {
      Optional<BigDecimal> gold = finalNumber(reference);
      if (gold.isPresent() && gold.get().compareTo(predicted.get()) == 0) {
        return new double[] {1};
      }
    }
    return new double[] {0};
  }

  /** The final number of {@code text} by the rules above, or empty when it has none. */
  public static Optional<BigDecimal> finalNumber(String text) {
    int mark = text.lastIndexOf(FINAL_MARK);
    if (mark >= 0) {
      Optional<BigDecimal> number = firstNumber(text.substring(mark + FINAL_MARK.length()));
      if (number.isPresent()) {
        return number;
      }
    }
    Matcher answerIs = ANSWER_IS.matcher(text);
    int afterAnswerIs = -1;
    while (answerIs.find()) {
      afterAnswerIs = answerIs.end();
    }
    if (afterAnswerIs >= 0) {
      Optional<BigDecimal> number = firstNumber(text.substring(afterAnswerIs));
      if (number.isPresent()) {
        return number;
      }
    }
    Matcher matcher = NUMBER.matcher(text);
    String last = null;
    while (matcher.find()) {
      last = matcher.group();
    }
    return Optional.ofNullable(last).map(NumberAccuracy::toNumber);
  }

  /** The first number in {@code text}, or empty. */
  public static Optional<BigDecimal> firstNumber(String text) {
    Matcher matcher = NUMBER.matcher(text);
    return matcher.find() ? Optional.of(toNumber(matcher.group())) : Optional.empty();
  }

  private static BigDecimal toNumber(String match) {
    return new BigDecimal(match.replace(",", ""));
  }
}
