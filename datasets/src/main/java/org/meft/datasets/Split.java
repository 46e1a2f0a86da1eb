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
}
