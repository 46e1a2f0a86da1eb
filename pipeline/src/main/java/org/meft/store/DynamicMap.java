package org.meft.store;

import java.util.Arrays;

/**
 * The 256 values of bitsandbytes' dynamic 8-bit data type ({@code create_dynamic_map(signed,
 * max_exponent_bits=7, total_bits=8)}, Dettmers et al., 2022): per decade 10^(i-6), i = 0..6, the
 * midpoints of 2^i + 1 (signed) or 2^(i+1) + 1 (unsigned) points evenly spaced in [0.1, 1], with
 * both signs when signed, plus 0 and 1. Small magnitudes keep their relative precision, which the
 * second moment, spread over many decades, needs. Codes are indices into the sorted values.
 */
final class DynamicMap {
  static final DynamicMap SIGNED = new DynamicMap(true);
  static final DynamicMap UNSIGNED = new DynamicMap(false);

  private static final int EXPONENT_BITS = 7;

  /** The values, ascending. */
  final float[] values = new float[256];

  /** The midpoints between neighbouring values: a value's code counts the midpoints below it. */
  private final float[] bounds = new float[255];

  private DynamicMap(boolean signed) {
    double[] data = new double[256];
    int n = 0;
    for (int i = 0; i < EXPONENT_BITS; i++) {
      int items = signed ? (1 << i) + 1 : (1 << (i + 1)) + 1;
      double scale = Math.pow(10, -(EXPONENT_BITS - 1) + i);
      for (int j = 0; j + 1 < items; j++) {
        double lo = 0.1 + 0.9 * j / (items - 1);
        double hi = 0.1 + 0.9 * (j + 1) / (items - 1);
        double mean = (lo + hi) / 2;
        data[n++] = scale * mean;
        if (signed) {
          data[n++] = -scale * mean;
        }
      }
    }
    data[n++] = 0;
    data[n++] = 1;
    if (n != 256) {
      throw new IllegalStateException("dynamic map of " + n + " values");
    }
    Arrays.sort(data);
    for (int i = 0; i < 256; i++) {
      values[i] = (float) data[i];
    }
    for (int i = 0; i < 255; i++) {
      bounds[i] = (float) ((data[i] + data[i + 1]) / 2);
    }
  }

  /** The code of the value nearest {@code x} (x in [-1, 1]): a binary search of the midpoints. */
  int encode(float x) {
    int lo = 0;
    int hi = bounds.length;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (bounds[mid] < x) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }
}
