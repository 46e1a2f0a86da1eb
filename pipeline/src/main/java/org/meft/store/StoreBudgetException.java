package org.meft.store;

import java.util.Locale;

/**
 * Thrown before any allocation when a host store does not fit the off-heap budget. The message
 * names both sizes, human-readable and in bytes, and what to change.
 */
public final class StoreBudgetException extends IllegalArgumentException {
  private final long neededBytes;
  private final long budgetBytes;

  StoreBudgetException(String what, long neededBytes, long budgetBytes, String allocatorName) {
    super(
        what
            + " needs "
            + humanBytes(neededBytes)
            + " ("
            + neededBytes
            + " bytes), budget "
            + humanBytes(budgetBytes)
            + " ("
            + budgetBytes
            + " bytes) left in allocator '"
            + allocatorName
            + "'; lower the adapter rows or layers, or raise the off-heap budget");
    this.neededBytes = neededBytes;
    this.budgetBytes = budgetBytes;
  }

  public long neededBytes() {
    return neededBytes;
  }

  public long budgetBytes() {
    return budgetBytes;
  }

  /** Binary units with one decimal: 1610612736 -> "1.5 GiB". */
  static String humanBytes(long bytes) {
    String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double value = bytes;
    int unit = 0;
    while (Math.abs(value) >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit++;
    }
    return unit == 0 ? bytes + " B" : String.format(Locale.ROOT, "%.1f %s", value, units[unit]);
  }
}
