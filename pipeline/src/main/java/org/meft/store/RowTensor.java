package org.meft.store;

import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.rounding.RoundingPolicy;

/**
 * A float32 tensor [rows, dim], row-major, in off-heap Arrow buffers. A {@link java.nio.ByteBuffer}
 * addresses at most 2 GiB, so the rows are split into chunks of whole rows, one {@link ArrowBuf}
 * and one native-order {@link FloatBuffer} view per chunk. Views are only used with absolute
 * indices, so any number of threads may read, and threads may write disjoint rows, concurrently.
 */
final class RowTensor implements AutoCloseable {
  final int rows;
  final int dim;
  private final int rowsPerChunk;
  private final ArrowBuf[] chunks;
  private final FloatBuffer[] views;

  private RowTensor(int rows, int dim, int rowsPerChunk, ArrowBuf[] chunks, FloatBuffer[] views) {
    this.rows = rows;
    this.dim = dim;
    this.rowsPerChunk = rowsPerChunk;
    this.chunks = chunks;
    this.views = views;
  }

  /** Rows per chunk: as many whole rows as fit in {@code maxChunkBytes}. */
  static int rowsPerChunk(int rows, int dim, long maxChunkBytes) {
    long rowBytes = (long) dim * Float.BYTES;
    if (rowBytes > maxChunkBytes) {
      throw new IllegalArgumentException(
          "dim " + dim + " makes a row of " + rowBytes + " bytes, over " + maxChunkBytes);
    }
    return (int) Math.min(rows, maxChunkBytes / rowBytes);
  }

  /** Bytes the allocator charges for one tensor: every chunk rounded by {@code rounding}. */
  static long bytesNeeded(int rows, int dim, long maxChunkBytes, RoundingPolicy rounding) {
    int perChunk = rowsPerChunk(rows, dim, maxChunkBytes);
    long fullChunkBytes = (long) perChunk * dim * Float.BYTES;
    long full = rows / perChunk;
    long lastRows = rows % perChunk;
    long bytes = full * rounding.getRoundedSize(fullChunkBytes);
    return lastRows == 0 ? bytes : bytes + rounding.getRoundedSize(lastRows * dim * Float.BYTES);
  }

  /**
   * Allocates a zeroed tensor. On failure, the chunks already allocated are released before the
   * exception propagates.
   */
  static RowTensor allocateZeroed(BufferAllocator allocator, int rows, int dim, long maxChunk) {
    int perChunk = rowsPerChunk(rows, dim, maxChunk);
    int nChunks = (rows + perChunk - 1) / perChunk;
    ArrowBuf[] chunks = new ArrowBuf[nChunks];
    FloatBuffer[] views = new FloatBuffer[nChunks];
    try {
      for (int c = 0; c < nChunks; c++) {
        int chunkRows = Math.min(perChunk, rows - c * perChunk);
        int bytes = chunkRows * dim * Float.BYTES;
        chunks[c] = allocator.buffer(bytes);
        chunks[c].setZero(0, chunks[c].capacity());
        views[c] = chunks[c].nioBuffer(0, bytes).order(ByteOrder.nativeOrder()).asFloatBuffer();
      }
    } catch (RuntimeException | Error e) {
      release(chunks);
      throw e;
    }
    return new RowTensor(rows, dim, perChunk, chunks, views);
  }

  /** Copies row {@code row} into {@code dst[off, off + dim)}. */
  void get(int row, float[] dst, int off) {
    views[row / rowsPerChunk].get((row % rowsPerChunk) * dim, dst, off, dim);
  }

  /** Copies the row's floats [col, col + len) into {@code dst[off, off + len)}. */
  void get(int row, int col, int len, float[] dst, int off) {
    views[row / rowsPerChunk].get((row % rowsPerChunk) * dim + col, dst, off, len);
  }

  /** Copies {@code src[off, off + dim)} into row {@code row}. */
  void put(int row, float[] src, int off) {
    views[row / rowsPerChunk].put((row % rowsPerChunk) * dim, src, off, dim);
  }

  /** Copies row {@code row} into {@code out[outIndex, outIndex + dim)} (a direct-buffer memcpy). */
  void copyTo(int row, FloatBuffer out, int outIndex) {
    out.put(outIndex, views[row / rowsPerChunk], (row % rowsPerChunk) * dim, dim);
  }

  /** Copies rows [from, from + count) into {@code dst} from byte {@code at} (row-major floats). */
  void copyRowsTo(int from, int count, ArrowBuf dst, long at) {
    long rowBytes = (long) dim * Float.BYTES;
    while (count > 0) {
      int chunk = from / rowsPerChunk;
      int inChunk = Math.min(count, rowsPerChunk - from % rowsPerChunk);
      long bytes = inChunk * rowBytes;
      dst.setBytes(at, chunks[chunk], (from % rowsPerChunk) * rowBytes, bytes);
      at += bytes;
      from += inChunk;
      count -= inChunk;
    }
  }

  /**
   * Copies {@code count} rows from {@code src} at byte {@code at} into rows [from, from + count).
   */
  void copyRowsFrom(ArrowBuf src, long at, int from, int count) {
    long rowBytes = (long) dim * Float.BYTES;
    while (count > 0) {
      int chunk = from / rowsPerChunk;
      int inChunk = Math.min(count, rowsPerChunk - from % rowsPerChunk);
      long bytes = inChunk * rowBytes;
      chunks[chunk].setBytes((from % rowsPerChunk) * rowBytes, src, at, bytes);
      at += bytes;
      from += inChunk;
      count -= inChunk;
    }
  }

  /** Sets row {@code row} to zero. */
  void zero(int row) {
    long rowBytes = (long) dim * Float.BYTES;
    chunks[row / rowsPerChunk].setZero((row % rowsPerChunk) * rowBytes, rowBytes);
  }

  @Override
  public void close() {
    release(chunks);
  }

  private static void release(ArrowBuf[] chunks) {
    for (int c = 0; c < chunks.length; c++) {
      if (chunks[c] != null) {
        chunks[c].close();
        chunks[c] = null;
      }
    }
  }
}
