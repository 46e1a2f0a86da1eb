package org.meft.store;

/**
 * How the store holds its keys and values. Arithmetic is float32 either way: rows are widened when
 * gathered or updated, and a bf16 row is written back with stochastic rounding ({@link Bf16}).
 */
public enum StoreDtype {
  F32(Float.BYTES),
  BF16(Short.BYTES);

  private final int bytes;

  StoreDtype(int bytes) {
    this.bytes = bytes;
  }

  /** Bytes per element. */
  public int bytes() {
    return bytes;
  }
}
