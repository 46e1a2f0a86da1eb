package org.meft.store;

import java.nio.FloatBuffer;
import java.util.List;

/** Float32 rows, stored as they are. */
final class F32Rows implements Rows {
  private final RowTensor t;

  F32Rows(RowTensor t) {
    this.t = t;
  }

  @Override
  public void get(int row, float[] dst, int off) {
    t.get(row, dst, off);
  }

  @Override
  public void get(int row, int col, int len, float[] dst, int off) {
    t.get(row, col, len, dst, off);
  }

  @Override
  public void copyTo(int row, FloatBuffer out, int at) {
    t.copyTo(row, out, at);
  }

  @Override
  public void put(int row, float[] src, int off) {
    t.put(row, src, off);
  }

  @Override
  public List<Column> columns() {
    return List.of(new Column("", t, Kind.FLOAT32));
  }

  @Override
  public void close() {
    t.close();
  }
}
