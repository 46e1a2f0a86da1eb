package org.meft.store;

import java.nio.FloatBuffer;
import java.util.List;

/**
 * A store tensor [N, d] as float32 rows, whatever its element type: reads decode a row, writes
 * encode one. Distinct rows may be read and written from distinct threads concurrently.
 */
interface Rows extends AutoCloseable {
  /** Decodes row {@code row} into {@code dst[off, off + d)}. */
  void get(int row, float[] dst, int off);

  /** Decodes the row's elements [col, col + len) into {@code dst[off, off + len)}. */
  void get(int row, int col, int len, float[] dst, int off);

  /** Decodes row {@code row} into {@code out[at, at + d)}. */
  void copyTo(int row, FloatBuffer out, int at);

  /** Encodes {@code src[off, off + d)} into row {@code row}, rounding to nearest. */
  void put(int row, float[] src, int off);

  /**
   * Encodes an updated row; a format that rounds stochastically draws its random bits from {@code
   * seed} (the same seed, the same bits), others round as {@link #put}.
   */
  default void putUpdated(int row, float[] src, long seed) {
    put(row, src, 0);
  }

  /** The raw tensors a checkpoint keeps, in column order, with their column-name suffixes. */
  List<Column> columns();

  /**
   * A raw tensor of this one: {@code suffix} is appended to the store column's name ("" for the
   * elements themselves, "_scale" for the int8 block scales).
   */
  record Column(String suffix, RowTensor tensor, Kind kind) {}

  /** The Arrow element type of a raw column. */
  enum Kind {
    FLOAT32,
    UINT16,
    INT8
  }

  @Override
  void close();
}
