package org.meft.datasets.metric;

import java.text.Normalizer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Exact match and token F1 as the official scorers compute them, maximum over the references.
 *
 * <ul>
 *   <li>SQuAD ({@link #squad}): both by the SQuAD v1.1 script {@code evaluate-v1.1.py}.
 *   <li>NQ-open ({@link #nqOpen}): {@code exact_match} by the NQ-open evaluation
 *       (google-research/language {@code orqa/utils/eval_utils.py}), which puts the text in Unicode
 *       NFD before the SQuAD normalisation; that script has no F1, so {@code f1} is the SQuAD
 *       script's (no NFD), the F1 that NQ-open papers quote.
 * </ul>
 *
 * <p>The SQuAD normalisation ({@code normalize_answer}), in the script's order: lower-case; delete
 * ASCII punctuation ({@code string.punctuation}); replace the whole words {@code a}, {@code an},
 * {@code the} with a space; collapse white space. F1 over the normalised whitespace tokens: with
 * {@code c} the size of the multiset intersection, {@code P = c / |prediction|}, {@code R = c /
 * |reference|}, {@code F1 = 2 P R / (P + R)}, and 0 when {@code c = 0}. Scores are in [0, 1] (the
 * scripts print them times 100).
 */
public final class ExactMatchF1 implements Metric {
  private static final long serialVersionUID = 2L;

  private final boolean nfdExactMatch;

  private ExactMatchF1(boolean nfdExactMatch) {
    this.nfdExactMatch = nfdExactMatch;
  }

  /** SQuAD v1.1's {@code evaluate-v1.1.py}. */
  public static ExactMatchF1 squad() {
    return new ExactMatchF1(false);
  }

  /** NQ-open's {@code eval_utils.py} exact match (NFD first), SQuAD's F1. */
  public static ExactMatchF1 nqOpen() {
    return new ExactMatchF1(true);
  }

  @Override
  public List<String> names() {
    return List.of("exact_match", "f1");
  }

  @Override
  public double[] score(String prediction, List<String> references) {
    double exact = 0;
    double f1 = 0;
    for (String reference : references) {
      double match =
          nfdExactMatch
              ? exactMatch(nfd(prediction), nfd(reference))
              : exactMatch(prediction, reference);
      exact = Math.max(exact, match);
      f1 = Math.max(f1, f1(prediction, reference));
    }
    return new double[] {exact, f1};
  }

  /** {@code unicodedata.normalize("NFD", text)}. */
  public static String nfd(String text) {
    return Normalizer.normalize(text, Normalizer.Form.NFD);
  }

  /** The official {@code normalize_answer} of SQuAD v1.1. */
  public static String normalize(String text) {
    String lower = PythonText.lower(text);
    String withoutArticles = PythonText.removeArticles(PythonText.removePunctuation(lower));
    return String.join(" ", PythonText.split(withoutArticles));
  }

  /** 1 when the normalised texts are equal, else 0. */
  public static double exactMatch(String prediction, String reference) {
    return normalize(prediction).equals(normalize(reference)) ? 1 : 0;
  }

  /** Token F1 of the normalised texts. */
  public static double f1(String prediction, String reference) {
    List<String> predicted = PythonText.split(normalize(prediction));
    List<String> gold = PythonText.split(normalize(reference));
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
}
