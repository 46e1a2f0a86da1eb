package org.meft.datasets.metric;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Exact match and token F1 of the official SQuAD v1.1 evaluation script ({@code evaluate-v1.1.py}),
 * also used for NQ-open: both compare normalised answers and take the maximum over the references.
 *
 * <p>Normalisation, in the script's order: lower-case; delete ASCII punctuation (Python's {@code
 * string.punctuation}); replace the whole words {@code a}, {@code an}, {@code the} with a space;
 * collapse white space. F1 over the normalised whitespace tokens: with {@code c} the size of the
 * multiset intersection, {@code P = c / |prediction|}, {@code R = c / |reference|}, {@code F1 = 2 P
 * R / (P + R)}, and 0 when {@code c = 0}.
 */
public final class ExactMatchF1 implements Metric {
  private static final long serialVersionUID = 1L;
  private static final String PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  // Python 3's \b is Unicode-aware; Java's needs the flag to agree on non-ASCII words.
  private static final Pattern ARTICLES =
      Pattern.compile("\\b(a|an|the)\\b", Pattern.UNICODE_CHARACTER_CLASS);

  @Override
  public List<String> names() {
    return List.of("exact_match", "f1");
  }

  @Override
  public double[] score(String prediction, List<String> references) {
    double exact = 0;
    double f1 = 0;
    for (String reference : references) {
      exact = Math.max(exact, exactMatch(prediction, reference));
      f1 = Math.max(f1, f1(prediction, reference));
    }
    return new double[] {exact, f1};
  }

  /** The official {@code normalize_answer}. */
  public static String normalize(String text) {
    String lower = text.toLowerCase(Locale.ROOT);
    StringBuilder kept = new StringBuilder(lower.length());
    for (int i = 0; i < lower.length(); i++) {
      char c = lower.charAt(i);
      if (PUNCTUATION.indexOf(c) < 0) {
        kept.append(c);
      }
    }
    String withoutArticles = ARTICLES.matcher(kept).replaceAll(" ");
    return String.join(" ", words(withoutArticles));
  }

  /** 1 when the normalised texts are equal, else 0. */
  public static double exactMatch(String prediction, String reference) {
    return normalize(prediction).equals(normalize(reference)) ? 1 : 0;
  }

  /** Token F1 of the normalised texts. */
  public static double f1(String prediction, String reference) {
    List<String> predicted = words(normalize(prediction));
    List<String> gold = words(normalize(reference));
    Map<String, Integer> goldCounts = new HashMap<>();
    gold.forEach(token -> goldCounts.merge(token, 1, Integer::sum));
    int common = 0;
    for (String token : predicted) {
      Integer left = goldCounts.get(token);
      if (left != null && left > 0) {
        goldCounts.put(token, left - 1);
        common++;
      }
    }
    if (common == 0) {
      return 0;
    }
    double precision = (double) common / predicted.size();
    double recall = (double) common / gold.size();
    return 2 * precision * recall / (precision + recall);
  }

  /** Python's {@code str.split()}: runs of white space separate, none at either end. */
  private static List<String> words(String text) {
    List<String> words = new ArrayList<>();
    int start = -1;
    for (int i = 0; i <= text.length(); i++) {
      boolean space = i == text.length() || isSpace(text.charAt(i));
      if (space && start >= 0) {
        words.add(text.substring(start, i));
        start = -1;
      } else if (!space && start < 0) {
        start = i;
      }
    }
    return words;
  }

  // Python's str.isspace: Java's whitespace plus the no-break spaces and U+0085.
  private static boolean isSpace(char c) {
    return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == '\u0085';
  }
}
