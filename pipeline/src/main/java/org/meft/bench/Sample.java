package org.meft.bench;

import com.google.gson.JsonObject;
import java.util.Arrays;

/**
 * Repeated timings of one measurement, in seconds: the median (the figure every rate and ratio is
 * computed from) and the spread (min, max).
 */
public record Sample(double median, double min, double max, int repetitions) {
  public Sample {
    if (repetitions < 1 || !(min <= median && median <= max)) {
      throw new IllegalArgumentException(
          "a sample needs >= 1 repetition and min <= median <= max, got "
              + repetitions
              + ", "
              + min
              + ", "
              + median
              + ", "
              + max);
    }
  }

  /** The statistics of {@code seconds} (at least one value). */
  public static Sample of(double[] seconds) {
    double[] sorted = seconds.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    if (n == 0) {
      throw new IllegalArgumentException("no timings");
    }
    double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    return new Sample(median, sorted[0], sorted[n - 1], n);
  }

  /** (max - min) / median: the relative spread of the repetitions. */
  public double spread() {
    return median == 0 ? 0 : (max - min) / median;
  }

  public JsonObject toJson() {
    JsonObject json = new JsonObject();
    json.addProperty("median_s", median);
    json.addProperty("min_s", min);
    json.addProperty("max_s", max);
    json.addProperty("repetitions", repetitions);
    return json;
  }
}
