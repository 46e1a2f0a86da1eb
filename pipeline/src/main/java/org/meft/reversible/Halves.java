package org.meft.reversible;

import ai.djl.ndarray.NDArray;

/** The two halves [x1, x2] of the doubled stream, each [B, T, D]. */
public record Halves(NDArray first, NDArray second) {
  /** Closes both halves (once when they are the same array). */
  public void close() {
    first.close();
    if (second != first) {
      second.close();
    }
  }
}
