package org.meft.store;

/**
 * The float32 [N, d] tensors of a store layer that a checkpoint keeps, by their column names in the
 * Arrow IPC files (the gradient accumulators are zero between steps and are not kept).
 */
public enum StoreColumn {
  KEY("key"),
  VALUE("value"),
  KEY_M("key_m"),
  KEY_V("key_v"),
  VALUE_M("value_m"),
  VALUE_V("value_v");

  private final String columnName;

  StoreColumn(String columnName) {
    this.columnName = columnName;
  }

  public String columnName() {
    return columnName;
  }
}
