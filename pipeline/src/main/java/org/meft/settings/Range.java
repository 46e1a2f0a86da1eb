package org.meft.settings;

/**
 * The values a numeric setting allows: an interval whose ends may be open, closed or absent. Its
 * text ({@code >= 1}, {@code > 0}, {@code in [0, 1)}) is what usage lines and error messages show.
 */
public record Range(double min, boolean minClosed, double max, boolean maxClosed) {

  public static final Range ANY =
      new Range(Double.NEGATIVE_INFINITY, false, Double.POSITIVE_INFINITY, false);

  /** [min, inf). */
  public static Range atLeast(double min) {
    return new Range(min, true, Double.POSITIVE_INFINITY, false);
  }

  /** (min, inf). */
  public static Range above(double min) {
    return new Range(min, false, Double.POSITIVE_INFINITY, false);
  }

  /** [min, max). */
  public static Range closedOpen(double min, double max) {
    return new Range(min, true, max, false);
  }

  /** [min, max]. */
  public static Range closed(double min, double max) {
    return new Range(min, true, max, true);
  }

  public boolean contains(double value) {
    boolean aboveMin = minClosed ? value >= min : value > min;
    boolean belowMax = maxClosed ? value <= max : value < max;
    return aboveMin && belowMax; // false for NaN
  }

  @Override
  public String toString() {
    boolean bounded = max != Double.POSITIVE_INFINITY;
    if (min == Double.NEGATIVE_INFINITY && !bounded) {
      return "any number";
    }
    if (!bounded) {
      return (minClosed ? ">= " : "> ") + number(min);
    }
    return "in "
        + (minClosed ? "[" : "(")
        + number(min)
        + ", "
        + number(max)
        + (maxClosed ? "]" : ")");
  }

  private static String number(double value) {
    return value == Math.rint(value) && Math.abs(value) < 1e15
        ? Long.toString((long) value)
        : Double.toString(value);
  }
}
