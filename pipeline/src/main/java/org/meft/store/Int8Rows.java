package org.meft.store;

import java.nio.FloatBuffer;
import java.util.List;

/**
 * Rows of 8-bit codes of a {@link DynamicMap}, blockwise: each row's elements in blocks of {@link
 * #BLOCK} (the last may be shorter), each block with a float32 scale, its largest magnitude. An
 * element decodes as {@code map[code] * scale}; encoding picks the nearest map value of {@code x /
 * scale}, so the error of an element is at most half a map step times its block's scale.
 */
final class Int8Rows implements Rows {
  /** Elements per block: bitsandbytes' blockwise quantization uses 256 to 4,096. */
  static final int BLOCK = 256;

  private final RowTensor codes;
  private final RowTensor scales;
  private final DynamicMap map;
  private final int dim;
  private final ThreadLocal<byte[]> codeScratch;
  private final ThreadLocal<float[]> scaleScratch;
  private final ThreadLocal<float[]> rowScratch;

  Int8Rows(RowTensor codes, RowTensor scales, DynamicMap map) {
    this.codes = codes;
    this.scales = scales;
    this.map = map;
    this.dim = codes.dim;
    this.codeScratch = ThreadLocal.withInitial(() -> new byte[dim]);
    this.scaleScratch = ThreadLocal.withInitial(() -> new float[blocks(dim)]);
    this.rowScratch = ThreadLocal.withInitial(() -> new float[dim]);
  }

  /** Blocks per row of {@code dim} elements. */
  static int blocks(int dim) {
    return (dim + BLOCK - 1) / BLOCK;
  }

  @Override
  public void get(int row, float[] dst, int off) {
    byte[] c = codeScratch.get();
    float[] s = scaleScratch.get();
    codes.getBytes(row, c);
    scales.get(row, s, 0);
    for (int i = 0; i < dim; i++) {
      dst[off + i] = map.values[c[i] & 0xff] * s[i / BLOCK];
    }
  }

  @Override
  public void get(int row, int col, int len, float[] dst, int off) {
    float[] all = rowScratch.get();
    get(row, all, 0);
    System.arraycopy(all, col, dst, off, len);
  }

  @Override
  public void copyTo(int row, FloatBuffer out, int at) {
    float[] all = rowScratch.get();
    get(row, all, 0);
    out.put(at, all, 0, dim);
  }

  @Override
  public void put(int row, float[] src, int off) {
    byte[] c = codeScratch.get();
    float[] s = scaleScratch.get();
    for (int b = 0; b < s.length; b++) {
      int from = b * BLOCK;
      int to = Math.min(dim, from + BLOCK);
      float absmax = 0;
      for (int i = from; i < to; i++) {
        absmax = Math.max(absmax, Math.abs(src[off + i]));
      }
      s[b] = absmax;
      float inverse = absmax > 0 ? 1 / absmax : 0;
      for (int i = from; i < to; i++) {
        c[i] = (byte) map.encode(src[off + i] * inverse);
      }
    }
    codes.putBytes(row, c);
    scales.put(row, s, 0);
  }

  @Override
  public List<Column> columns() {
    return List.of(new Column("", codes, Kind.INT8), new Column("_scale", scales, Kind.FLOAT32));
  }

  @Override
  public void close() {
    codes.close();
    scales.close();
  }
}
