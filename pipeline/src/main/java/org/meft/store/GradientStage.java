package org.meft.store;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.rounding.RoundingPolicy;

/**
 * The gradients of one store layer's rows in flight: the distinct rows touched since the last
 * update, each with a slot of float32 gradients [d] per trained tensor (values, and keys when they
 * train), in first-touch order. Slots live in off-heap blocks of {@value #BLOCK_ROWS} rows,
 * allocated as the rows in flight first need them and kept for the next steps, so the stage holds
 * its largest step's rows, not N: a row that is not in flight has no gradient.
 */
final class GradientStage implements AutoCloseable {
  static final int BLOCK_ROWS = 64;

  private final BufferAllocator allocator;
  private final int dim;
  private final int params;
  private final long maxChunk;
  private final int[] slotOf; // slot + 1 of each row in flight, 0 for the others
  private int[] rowOf = new int[BLOCK_ROWS];
  private int size;
  private final List<RowTensor[]> blocks = new ArrayList<>();

  GradientStage(BufferAllocator allocator, int rows, int dim, int params, long maxChunk) {
    this.allocator = allocator;
    this.dim = dim;
    this.params = params;
    this.maxChunk = maxChunk;
    this.slotOf = new int[rows];
  }

  /**
   * Bytes a stage charges {@code allocator} for {@code rowsInFlight} rows: whole blocks of {@code
   * params} float32 tensors [BLOCK_ROWS, d], each rounded by {@code rounding}.
   */
  static long bytesNeeded(
      long rowsInFlight, int dim, int params, long maxChunk, RoundingPolicy rounding) {
    long blocks = (rowsInFlight + BLOCK_ROWS - 1) / BLOCK_ROWS;
    return blocks * params * RowTensor.bytesNeeded(BLOCK_ROWS, dim, maxChunk, rounding);
  }

  /** The slot of {@code row}, staging it (zero gradients) if it is not in flight yet. */
  int stage(int row) {
    int slot = slotOf[row] - 1;
    if (slot >= 0) {
      return slot;
    }
    slot = size++;
    if (slot == rowOf.length) {
      rowOf = Arrays.copyOf(rowOf, 2 * rowOf.length);
    }
    rowOf[slot] = row;
    slotOf[row] = slot + 1;
    if (slot / BLOCK_ROWS == blocks.size()) {
      RowTensor[] block = new RowTensor[params];
      try {
        for (int p = 0; p < params; p++) {
          block[p] = RowTensor.allocateZeroed(allocator, BLOCK_ROWS, dim, maxChunk);
        }
      } catch (RuntimeException | Error e) {
        for (RowTensor t : block) {
          if (t != null) {
            t.close();
          }
        }
        size--;
        slotOf[row] = 0;
        throw e;
      }
      blocks.add(block);
    } else {
      for (int p = 0; p < params; p++) {
        tensor(slot, p).zero(slot % BLOCK_ROWS);
      }
    }
    return slot;
  }

  /** The slot of {@code row}, or -1 when it is not in flight. */
  int slot(int row) {
    return slotOf[row] - 1;
  }

  /** Rows in flight. */
  int size() {
    return size;
  }

  /** The row of slot {@code slot}, for slots in [0, size). */
  int row(int slot) {
    return rowOf[slot];
  }

  /** Trained tensors per row: 1 (values) or 2 (values, keys). */
  int params() {
    return params;
  }

  /** gradient[slot, param] += src[at, at + d); acc and g are [d] scratch. */
  void add(int slot, int param, FloatBuffer src, int at, float[] acc, float[] g) {
    RowTensor t = tensor(slot, param);
    int r = slot % BLOCK_ROWS;
    t.get(r, acc, 0);
    src.get(at, g, 0, dim);
    for (int i = 0; i < dim; i++) {
      acc[i] += g[i];
    }
    t.put(r, acc, 0);
  }

  void get(int slot, int param, float[] dst) {
    tensor(slot, param).get(slot % BLOCK_ROWS, dst, 0);
  }

  void put(int slot, int param, float[] src) {
    tensor(slot, param).put(slot % BLOCK_ROWS, src, 0);
  }

  /** Forgets the rows in flight; their slots are zeroed when reused. */
  void clear() {
    for (int i = 0; i < size; i++) {
      slotOf[rowOf[i]] = 0;
    }
    size = 0;
  }

  /** Off-heap bytes held: every block allocated so far. */
  long bytes() {
    return bytesNeeded(
        (long) blocks.size() * BLOCK_ROWS, dim, params, maxChunk, allocator.getRoundingPolicy());
  }

  private RowTensor tensor(int slot, int param) {
    return blocks.get(slot / BLOCK_ROWS)[param];
  }

  @Override
  public void close() {
    for (RowTensor[] block : blocks) {
      for (RowTensor t : block) {
        t.close();
      }
    }
    blocks.clear();
    size = 0;
  }
}
