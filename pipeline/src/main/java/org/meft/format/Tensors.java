package org.meft.format;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/** Small helpers for moving tensors between files and the engine. */
public final class Tensors {
  private Tensors() {}

  /**
   * A copy of {@code view} in {@code dataType} that owns its memory; closes the view. Arrays
   * created over a direct buffer (a mapped file included) are zero-copy views of it and must not
   * outlive it. {@code toType(sameType, true)} would return an alias in DJL's PyTorch engine, hence
   * {@code duplicate()}.
   */
  public static NDArray ownedCopy(NDArray view, DataType dataType) {
    try (view) {
      return view.getDataType() == dataType ? view.duplicate() : view.toType(dataType, true);
    }
  }
}
