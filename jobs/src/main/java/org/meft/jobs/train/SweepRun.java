package org.meft.jobs.train;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;
import org.meft.datasets.Datasets;

/**
 * One run of a sweep, as shipped to its Spark task.
 *
 * @param id the run's name, unique in the sweep: its folder under {@code runs/} and its key in the
 *     metrics and predictions
 * @param dataset the dataset it trains on (its prepared train split)
 * @param prepared the prepared folder (absolute)
 * @param maxExamples train on the first this many examples of the split (0: all)
 * @param settings the engine's settings ({@code org.meft.train.RunSpec#fromSettings}): {@code
 *     bin/meft train}'s flag names, paths absolute
 */
public record SweepRun(
    String id, String dataset, String prepared, int maxExamples, Map<String, String> settings)
    implements Serializable {
  private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");

  public SweepRun {
    if (id == null || !ID.matcher(id).matches()) {
      throw new IllegalArgumentException(
          "id: expected letters, digits, '.', '_' or '-' (a folder name), got '" + id + "'");
    }
    Datasets.byName(dataset);
    if (maxExamples < 0) {
      throw new IllegalArgumentException("max-examples must be >= 0, got " + maxExamples);
    }
    settings = new LinkedHashMap<>(settings);
  }

  /** The adapter method. */
  public String method() {
    return settings.get("method");
  }
}
