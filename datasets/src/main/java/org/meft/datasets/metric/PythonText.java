package org.meft.datasets.metric;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The Python 3 string operations the official scorers are written with, for Java strings: {@code
 * str.lower()}, {@code str.split()}, the Unicode word characters of {@code re}'s {@code \w} and
 * {@code \b}, and {@code string.punctuation}. Java's own equivalents differ on non-ASCII text
 * (Java's Unicode {@code \w} counts combining marks as word characters, Python's does not).
 */
final class PythonText {
  /** Python's {@code string.punctuation}: the 32 ASCII punctuation characters. */
  static final String PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

  private static final int CAPITAL_SIGMA = 0x3a3;

  /** The code points of word-break MidLetter, MidNumLet and Single_Quote. */
  private static final String MID_LETTER_OR_QUOTE =
      ":\u00b7\u0387\u055f\u05f4\u2027\ufe13\ufe55\uff1a"
          + ".\u2018\u2019\u2024\ufe52\uff07\uff0e"
          + "'";

  private PythonText() {}

  /**
   * {@code str.lower()}: each code point's full lower-case mapping on its own, except capital
   * sigma, which becomes final sigma only in CPython's context (a cased letter before it and none
   * after it, case-ignorable characters skipped on both sides). Java's {@code toLowerCase} reads
   * the final sigma context from word boundaries instead: {@code "A-Σ"} becomes {@code a-ς},
   * Python's {@code a-σ}.
   */
  static String lower(String text) {
    StringBuilder out = new StringBuilder(text.length());
    for (int i = 0; i < text.length(); ) {
      int codePoint = text.codePointAt(i);
      if (codePoint == CAPITAL_SIGMA) {
        out.append(isFinalSigma(text, i) ? '\u03c2' : '\u03c3');
      } else {
        out.append(new String(Character.toChars(codePoint)).toLowerCase(Locale.ROOT));
      }
      i += Character.charCount(codePoint);
    }
    return out.toString();
  }

  /**
   * CPython's {@code handle_capital_sigma}: {@code \p{cased} \p{case-ignorable}* Σ} not followed by
   * {@code \p{case-ignorable}* \p{cased}}.
   */
  private static boolean isFinalSigma(String text, int sigma) {
    int before = sigma;
    int cased = -1;
    while (before > 0) {
      int codePoint = text.codePointBefore(before);
      before -= Character.charCount(codePoint);
      if (!isCaseIgnorable(codePoint)) {
        cased = codePoint;
        break;
      }
    }
    if (cased < 0 || !isCased(cased)) {
      return false;
    }
    for (int after = sigma + 1; after < text.length(); ) {
      int codePoint = text.codePointAt(after);
      if (!isCaseIgnorable(codePoint)) {
        return !isCased(codePoint);
      }
      after += Character.charCount(codePoint);
    }
    return true;
  }

  /** Unicode's {@code Cased}: lower-case, upper-case or title-case (Other_ properties included). */
  private static boolean isCased(int codePoint) {
    return Character.isLowerCase(codePoint)
        || Character.isUpperCase(codePoint)
        || Character.isTitleCase(codePoint);
  }

  /**
   * Unicode's {@code Case_Ignorable}: word-break MidLetter, MidNumLet or Single_Quote, or a mark,
   * format, modifier letter or modifier symbol.
   */
  private static boolean isCaseIgnorable(int codePoint) {
    if (MID_LETTER_OR_QUOTE.indexOf(codePoint) >= 0) {
      return true;
    }
    return switch (Character.getType(codePoint)) {
      case Character.NON_SPACING_MARK,
          Character.ENCLOSING_MARK,
          Character.FORMAT,
          Character.MODIFIER_LETTER,
          Character.MODIFIER_SYMBOL ->
          true;
      default -> false;
    };
  }

  /** {@code str.split()}: runs of white space separate, none at either end. */
  static List<String> split(String text) {
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

  /** {@code str.isspace()}: Java's white space plus the no-break spaces and U+0085. */
  static boolean isSpace(char c) {
    return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == '\u0085';
  }

  /** A character of {@code re}'s Unicode {@code \w}: {@code str.isalnum()} or underscore. */
  static boolean isWord(int codePoint) {
    if (codePoint == '_') {
      return true;
    }
    return switch (Character.getType(codePoint)) {
      case Character.UPPERCASE_LETTER,
          Character.LOWERCASE_LETTER,
          Character.TITLECASE_LETTER,
          Character.MODIFIER_LETTER,
          Character.OTHER_LETTER,
          Character.DECIMAL_DIGIT_NUMBER,
          Character.LETTER_NUMBER,
          Character.OTHER_NUMBER ->
          true;
      default -> false;
    };
  }

  /**
   * {@code re.sub(r"\b(a|an|the)\b", " ", text)}: both boundaries make a match exactly one maximal
   * run of word characters, so each run that is {@code a}, {@code an} or {@code the} becomes a
   * space.
   */
  static String removeArticles(String text) {
    StringBuilder out = new StringBuilder(text.length());
    int i = 0;
    while (i < text.length()) {
      int codePoint = text.codePointAt(i);
      if (!isWord(codePoint)) {
        out.appendCodePoint(codePoint);
        i += Character.charCount(codePoint);
        continue;
      }
      int end = i;
      while (end < text.length() && isWord(text.codePointAt(end))) {
        end += Character.charCount(text.codePointAt(end));
      }
      String word = text.substring(i, end);
      out.append(word.equals("a") || word.equals("an") || word.equals("the") ? " " : word);
      i = end;
    }
    return out.toString();
  }

  /** Deletes the characters of {@link #PUNCTUATION} (all ASCII, so char-wise is exact). */
  static String removePunctuation(String text) {
    StringBuilder kept = new StringBuilder(text.length());
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (PUNCTUATION.indexOf(c) < 0) {
        kept.append(c);
      }
    }
    return kept.toString();
  }
}
