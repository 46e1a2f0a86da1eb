package org.meft.store;

import java.nio.FloatBuffer;
import java.util.List;

/** bfloat16 rows ({@link Bf16}): widened on read, rounded stochastically on update. */
final class Bf16Rows implements Rows {
  private final RowTensor t;
  private final ThreadLocal<short[]> scratch;

  Bf16Rows(RowTensor t) {
    this.t = t;
    this.scratch = ThreadLocal.withInitial(() -> new short[t.dim]);
  }

  @Override
  public void get(int row, float[] dst, int off) {
    short[] bits = scratch.get();
    t.getShorts(row, bits);
    for (int i = 0; i < bits.length; i++) {
      dst[off + i] = Bf16.widen(bits[i]);
    }
  }

  @Override
  public void get(int row, int col, int len, float[] dst, int off) {
    short[] bits = scratch.get();
    t.getShorts(row, col, len, bits);
    for (int i = 0; i < len; i++) {
      dst[off + i] = Bf16.widen(bits[i]);
    }
  }

  @Override
  public void copyTo(int row, FloatBuffer out, int at) {
    short[] bits = scratch.get();
    t.getShorts(row, bits);
    for (int i = 0; i < bits.length; i++) {
      out.put(at + i, Bf16.widen(bits[i]));
    }
  }

  @Override
  public void put(int row, float[] src, int off) {
    short[] bits = scratch.get();
    for (int i = 0; i < bits.length; i++) {
      bits[i] = Bf16.nearest(src[off + i]);
    }
    t.putShorts(row, bits);
  }

  /** Four elements share one 64-bit draw of {@link Bf16#mix}, 16 bits each. */
  @Override
  public void putUpdated(int row, float[] src, long seed) {
    short[] bits = scratch.get();
    long noise = 0;
    for (int i = 0; i < bits.length; i++) {
      if ((i & 3) == 0) {
        noise = Bf16.mix(seed + i);
      }
      bits[i] = Bf16.stochastic(src[i], (int) (noise >>> ((i & 3) << 4)));
    }
    t.putShorts(row, bits);
  }

  @Override
  public List<Column> columns() {
    return List.of(new Column("", t, Kind.UINT16));
  }

  @Override
  public void close() {
    t.close();
  }
}
