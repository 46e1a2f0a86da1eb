package org.meft.testing;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;

/**
 * Writes values into an existing array by copying. DJL 0.35.1's {@code NDArray.set(float[])}
 * re-points the tensor's storage at a temporary direct buffer that nothing keeps alive, so the
 * array reads freed memory once the garbage collector runs; index assignment copies instead.
 */
public final class Overwrite {
  private Overwrite() {}

  public static void floats(NDArray target, float[] values) {
    try (NDArray source = target.getManager().create(values, target.getShape())) {
      copy(target, source);
    }
  }

  public static void doubles(NDArray target, double[] values) {
    try (NDArray source = target.getManager().create(values, target.getShape())) {
      copy(target, source);
    }
  }

  /** Through a detached view, so that arrays requiring gradients can be written too. */
  private static void copy(NDArray target, NDArray source) {
    try (NDArray view = target.stopGradient();
        NDArray converted = source.toType(target.getDataType(), true)) {
      view.set(new NDIndex("..."), converted);
    }
  }
}
