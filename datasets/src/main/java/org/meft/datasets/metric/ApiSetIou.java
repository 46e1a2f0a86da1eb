package org.meft.datasets.metric;

import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * ToolBench's API-selection score: the intersection over union of the predicted and the gold API
 * sets, {@code |P ∩ G| / |P ∪ G|}. The references are the gold API lines, one per reference.
 *
 * <p>{@code iou}, the headline, is the MEFT authors' rule ({@code tool()} in CURRENTF/MEFT {@code
 * raw_evaluate_my.py}): delete every {@code "API MAIN INFO: "} from the prediction, split it on
 * {@code "\n\n"} (Python's {@code str.split}: empty pieces count), cut each piece and each
 * reference to its first three comma-separated fields and lower-case it; then {@code |P ∩ G| / |P ∪
 * G|} of the two sets. Nothing is trimmed, so one API per blank-line-separated paragraph is the
 * format the rule reads.
 *
 * <p>{@code iou_lenient} is the project's own parser ({@link #parse}): one API per line, {@code
 * tool_name :: api_name} ({@link #line}); lines without {@code ::} are ignored, a leading {@code -
 * } or {@code * } bullet is dropped, names compare case-insensitively after trimming; an empty
 * prediction scores 0.
 */
public final class ApiSetIou implements Metric {
  private static final long serialVersionUID = 1L;

  /** Between the tool and the API name: no ToolBench tool or API name contains it. */
  public static final String SEPARATOR = " :: ";

  private static final String AUTHORS_PREFIX = "API MAIN INFO: ";

  @Override
  public List<String> names() {
    return List.of("iou", "iou_lenient");
  }

  @Override
  public double[] score(String prediction, List<String> references) {
    Set<String> gold = new HashSet<>();
    references.forEach(reference -> gold.addAll(parse(reference)));
    return new double[] {authorsIou(prediction, references), iou(parse(prediction), gold)};
  }

  /** The authors' {@code tool()} score of one prediction. */
  public static double authorsIou(String prediction, List<String> references) {
    Set<String> gold = new HashSet<>();
    references.forEach(reference -> gold.add(authorsKey(reference)));
    Set<String> predicted = new HashSet<>();
    for (String piece : prediction.replace(AUTHORS_PREFIX, "").split("\n\n", -1)) {
      predicted.add(authorsKey(piece));
    }
    Set<String> union = new HashSet<>(predicted);
    union.addAll(gold);
    long common = predicted.stream().filter(gold::contains).count();
    // The split always yields a piece, so the union is never empty.
    return (double) common / union.size();
  }

  /** {@code ','.join(api.split(',')[:3]).lower()}. */
  static String authorsKey(String api) {
    int comma = -1;
    for (int i = 0; i < 3; i++) {
      comma = api.indexOf(',', comma + 1);
      if (comma < 0) {
        return PythonText.lower(api);
      }
    }
    return PythonText.lower(api.substring(0, comma));
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
      String tool = PythonText.lower(item.substring(0, separator).strip());
      String api = PythonText.lower(item.substring(separator + 2).strip());
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
