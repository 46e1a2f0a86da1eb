package org.meft.datasets;

import java.util.Locale;

/** The splits of prepared data: what a model trains on and what it is evaluated on. */
public enum Split {
  TRAIN,
  TEST;

  /** The name used in output paths and tables: {@code train}, {@code test}. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /**
   * The split labelled {@code label} ({@code train}, {@code test}); names both when it is neither.
   */
  public static Split of(String label) {
    for (Split split : values()) {
      if (split.label().equals(label)) {
        return split;
      }
    }
    throw new IllegalArgumentException("split must be train or test, got '" + label + "'");
  }
}
