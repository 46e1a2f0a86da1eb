package org.meft.store;

/**
 * bfloat16, the upper 16 bits of a float32. Widening is exact; narrowing either rounds to nearest
 * (even), or stochastically: up with probability equal to the fraction of the gap the value lies
 * above the lower neighbour, so the rounded value is unbiased. A sparse row takes updates of about
 * lr each, often below half a bf16 step of its value (2^-8 relative): round-to-nearest would drop
 * them all, stochastic rounding keeps their expectation (an f32 master copy would too, but it costs
 * the 4 bytes an element this format exists to save).
 */
final class Bf16 {
  private Bf16() {}

  static float widen(short bits) {
    return Float.intBitsToFloat(bits << 16);
  }

  /** Round to nearest, ties to even; NaN stays NaN. */
  static short nearest(float x) {
    int bits = Float.floatToRawIntBits(x);
    if ((bits & 0x7f800000) == 0x7f800000) {
      return (short) ((bits >>> 16) | ((bits & 0xffff) != 0 ? 0x40 : 0));
    }
    int lsb = (bits >>> 16) & 1;
    return (short) ((bits + 0x7fff + lsb) >>> 16);
  }

  /**
   * Stochastic rounding with 16 random bits {@code noise} (the low 16 bits are used): adding them
   * below the kept bits carries into them with probability (dropped bits) / 2^16. A value already
   * in bf16 (dropped bits zero) never changes.
   */
  static short stochastic(float x, int noise) {
    int bits = Float.floatToRawIntBits(x);
    if ((bits & 0x7f800000) == 0x7f800000) {
      return nearest(x);
    }
    return (short) ((bits + (noise & 0xffff)) >>> 16);
  }

  /** SplitMix64's finaliser: independent 64 random bits for each distinct input. */
  static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    return z ^ (z >>> 31);
  }
}
