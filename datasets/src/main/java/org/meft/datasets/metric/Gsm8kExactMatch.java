package org.meft.datasets.metric;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * GSM8K exact match as lm-evaluation-harness scores it ({@code lm_eval/tasks/gsm8k/gsm8k.yaml},
 * version 3.0), the figure most papers quote; the headline is {@code strict-match}.
 *
 * <ul>
 *   <li>{@code exact_match,strict-match} (column {@code exact_match_strict}): the first match of
 *       {@code #### (\-?[0-9\.\,]+)}, its group stripped; {@code [invalid]} when there is none.
 *   <li>{@code exact_match,flexible-extract} (column {@code exact_match_flexible}): the last match
 *       of {@code (-?[$0-9.,]{2,})|(-?[0-9]+)} ({@code group_select: -1}), its first non-empty
 *       group stripped; {@code [invalid]} when there is none.
 *   <li>{@code accuracy_lenient}: the project's earlier rule ({@link NumberAccuracy}), comparable
 *       with nothing published.
 * </ul>
 *
 * <p>The extracted answer and each reference then go through the yaml's {@code exact_match}
 * options, as {@code exact_match_hf_evaluate} applies them: {@code re.sub(r, "", x)} for each of
 * {@code ,} and {@code \$} and {@code (?s).*#### } and {@code \.$} in that order, then lower case;
 * the score is 1 when the two strings are equal. A reference may be the bare answer ({@code 72}) or
 * the whole solution ending {@code #### 72}: the third pattern cuts the solution to its answer, as
 * the harness does with the dataset's {@code answer} field.
 */
public final class Gsm8kExactMatch implements Metric {
  private static final long serialVersionUID = 1L;
  static final Pattern STRICT = Pattern.compile("#### (\\-?[0-9\\.\\,]+)");
  static final Pattern FLEXIBLE = Pattern.compile("(-?[$0-9.,]{2,})|(-?[0-9]+)");
  static final String INVALID = "[invalid]";
  // UNIX_LINES: Python's $ matches before a final "\n" only, Java's before any line terminator.
  private static final List<Pattern> IGNORED =
      List.of(
          Pattern.compile(","),
          Pattern.compile("\\$"),
          Pattern.compile("(?s).*#### "),
          Pattern.compile("\\.$", Pattern.UNIX_LINES));

  private final NumberAccuracy lenient = new NumberAccuracy();

  @Override
  public List<String> names() {
    return List.of("exact_match_strict", "exact_match_flexible", "accuracy_lenient");
  }

  @Override
  public List<String> labels() {
    return List.of("exact_match,strict-match", "exact_match,flexible-extract", "accuracy_lenient");
  }

  @Override
  public double[] score(String prediction, List<String> references) {
    return new double[] {
      exactMatch(strictMatch(prediction), references),
      exactMatch(flexibleExtract(prediction), references),
      lenient.score(prediction, references)[0]
    };
  }

  @Override
  public boolean parses(String prediction) {
    return STRICT.matcher(prediction).find();
  }

  /** The {@code strict-match} filter: the first {@code #### N}'s N, or {@code [invalid]}. */
  public static String strictMatch(String prediction) {
    Matcher matcher = STRICT.matcher(prediction);
    return matcher.find() ? matcher.group(1).strip() : INVALID;
  }

  /** The {@code flexible-extract} filter: the last number-like run, or {@code [invalid]}. */
  public static String flexibleExtract(String prediction) {
    Matcher matcher = FLEXIBLE.matcher(prediction);
    String last = null;
    while (matcher.find()) {
      last = matcher.group(1) != null ? matcher.group(1) : matcher.group(2);
    }
    return last == null ? INVALID : last.strip();
  }

  /** {@code exact_match} with the yaml's options: 1 when some reference equals the answer. */
  static double exactMatch(String extracted, List<String> references) {
    String answer = normalize(extracted);
    for (String reference : references) {
      if (normalize(reference).equals(answer)) {
        return 1;
      }
    }
    return 0;
  }

  /** {@code regexes_to_ignore} in order, then {@code ignore_case}. */
  public static String normalize(String text) {
    String kept = text;
    for (Pattern ignored : IGNORED) {
      kept = ignored.matcher(kept).replaceAll("");
    }
    return PythonText.lower(kept);
  }
}
