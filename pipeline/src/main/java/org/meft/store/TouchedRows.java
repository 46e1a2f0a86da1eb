package org.meft.store;

/**
 * The distinct rows of one layer that received gradients since the last update: a bitset for
 * membership and a list in first-touch order, so that iteration costs O(touched), not O(rows).
 */
final class TouchedRows {
  private final long[] bits;
  private final int[] list;
  private int size;

  TouchedRows(int rows) {
    this.bits = new long[(rows + 63) >>> 6];
    this.list = new int[rows];
  }

  /** Marks {@code row}; a row already marked keeps its place. */
  void add(int row) {
    long mask = 1L << row;
    int word = row >>> 6;
    if ((bits[word] & mask) == 0) {
      bits[word] |= mask;
      list[size++] = row;
    }
  }

  boolean contains(int row) {
    return (bits[row >>> 6] & (1L << row)) != 0;
  }

  int size() {
    return size;
  }

  /** The i-th touched row, for i in [0, size). */
  int get(int i) {
    return list[i];
  }

  void clear() {
    for (int i = 0; i < size; i++) {
      bits[list[i] >>> 6] = 0;
    }
    size = 0;
  }
}
