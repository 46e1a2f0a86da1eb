package org.meft.datasets.metric;

import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * ToolBench's API-selection score: the intersection over union of the predicted and the gold API
 * sets, {@code |P ∩ G| / |P ∪ G|}; an empty prediction scores 0.
 *
 * <p>An API is written as one line, {@code tool_name :: api_name} ({@link #line}); {@link #parse}
 * reads the lines of a text back, ignoring lines without {@code ::} and a leading {@code - } or
 * {@code * } bullet, and compares names case-insensitively after trimming. The references are the
 * gold API lines, one per reference.
 */
public final class ApiSetIou implements Metric {
  private static final long serialVersionUID = 1L;

  /** Between the tool and the API name: no ToolBench tool or API name contains it. */
  public static final String SEPARATOR = " :: ";

  @Override
  public List<String> names() {
    return List.of("iou");
  }

  @Override
  public double[] score(String prediction, List<String> references) {
    Set<String> gold = new HashSet<>();
    references.forEach(reference -> gold.addAll(parse(reference)));
    return new double[] {iou(parse(prediction), gold)};
  }

  /** The line of one API: {@code tool :: api}, both trimmed. */
  public static String line(String tool, String api) {
    return tool.strip() + SEPARATOR + api.strip();
  }

  /** The APIs of a text, one per line, as case-folded {@code tool\napi} keys. */
  public static Set<String> parse(String text) {
    Set<String> apis = new LinkedHashSet<>();
    for (String line : text.split("\\R")) {
      String item = line.strip();
      if (item.startsWith("- ") || item.startsWith("* ")) {
        item = item.substring(2);
      }
      int separator = item.indexOf("::");
      if (separator < 0) {
        continue;
      }
      String tool = item.substring(0, separator).strip().toLowerCase(Locale.ROOT);
      String api = item.substring(separator + 2).strip().toLowerCase(Locale.ROOT);
      if (!tool.isEmpty() && !api.isEmpty()) {
        apis.add(tool + "\n" + api);
      }
    }
    return apis;
  }

  /** {@code |a ∩ b| / |a ∪ b|}, 0 when {@code a} is empty. */
  public static double iou(Set<String> predicted, Set<String> gold) {
    if (predicted.isEmpty()) {
      return 0;
    }
    Set<String> union = new HashSet<>(predicted);
    union.addAll(gold);
    long common = predicted.stream().filter(gold::contains).count();
    return (double) common / union.size();
  }
}
