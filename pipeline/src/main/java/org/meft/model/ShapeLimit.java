package org.meft.model;

/**
 * The largest value each dimension of a decoder may take, well above any published LLaMA-family
 * model and far below what would overflow the arithmetic or the memory sized from it. A shape read
 * from a file is checked against these before any memory or time is spent on it, and each tensor's
 * element count against what one tensor can hold.
 */
public enum ShapeLimit {
  /** Model width D. */
  WIDTH(1L << 17),
  /** FFN width. */
  FFN_WIDTH(1L << 20),
  /** Decoder layers. */
  LAYERS(1L << 12),
  /** Query or key/value heads. */
  HEADS(1L << 12),
  /** Per-head width Dh. */
  HEAD_DIM(1L << 14),
  /** Vocabulary size V. */
  VOCABULARY(1L << 22),
  /** Positions the model was trained for. */
  POSITIONS(1L << 24);

  /** The most elements one tensor may have: a Java array, and DJL's int-indexed buffers. */
  public static final long MAX_TENSOR_ELEMENTS = Integer.MAX_VALUE;

  private final long max;

  ShapeLimit(long max) {
    this.max = max;
  }

  public long max() {
    return max;
  }

  /**
   * {@code value} as an int when it is in [1, {@link #max}].
   *
   * @throws IllegalArgumentException naming {@code field}, the bound and the value
   */
  public int check(String field, long value) {
    if (value <= 0) {
      throw new IllegalArgumentException(field + " must be > 0, got " + value);
    }
    if (value > max) {
      throw new IllegalArgumentException(field + " must be at most " + max + ", got " + value);
    }
    return (int) value;
  }

  /**
   * The element count of tensor {@code name} of shape {@code dims} (each already within its limit),
   * computed in 64-bit arithmetic.
   *
   * @throws IllegalArgumentException when it is over {@link #MAX_TENSOR_ELEMENTS}
   */
  public static long elements(String name, String shape, long... dims) {
    long elements = 1;
    for (long dim : dims) {
      elements = Math.multiplyExact(elements, dim);
    }
    if (elements > MAX_TENSOR_ELEMENTS) {
      throw new IllegalArgumentException(
          name
              + " ["
              + shape
              + "] has "
              + elements
              + " elements, more than the "
              + MAX_TENSOR_ELEMENTS
              + " one tensor can hold");
    }
    return elements;
  }
}
