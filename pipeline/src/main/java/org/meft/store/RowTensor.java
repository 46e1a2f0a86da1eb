package org.meft.store;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.rounding.RoundingPolicy;

/**
 * A tensor [rows, dim] of fixed-width elements (float32, or the raw 16- and 8-bit codes of the
 * compact rows), row-major, in off-heap Arrow buffers. A {@link java.nio.ByteBuffer} addresses at
 * most 2 GiB, so the rows are split into chunks of whole rows, one {@link ArrowBuf} and one
 * native-order view per chunk. Views are only used with absolute indices, so any number of threads
 * may read, and threads may write disjoint rows, concurrently. The float methods need 4-byte
 * elements, the short methods 2-byte ones.
 */
final class RowTensor implements AutoCloseable {
  final int rows;
  final int dim;
  final int elementBytes;
  private final int rowsPerChunk;
  private final ArrowBuf[] chunks;
  private final FloatBuffer[] views;
  private final ShortBuffer[] shorts;

  private RowTensor(
      int rows,
      int dim,
      int elementBytes,
      int rowsPerChunk,
      ArrowBuf[] chunks,
      FloatBuffer[] views,
      ShortBuffer[] shorts) {
    this.rows = rows;
    this.dim = dim;
    this.elementBytes = elementBytes;
    this.rowsPerChunk = rowsPerChunk;
    this.chunks = chunks;
    this.views = views;
    this.shorts = shorts;
  }

  /** Rows per chunk of float32 rows: as many whole rows as fit in {@code maxChunkBytes}. */
  static int rowsPerChunk(int rows, int dim, long maxChunkBytes) {
    return rowsPerChunk(rows, dim, Float.BYTES, maxChunkBytes);
  }

  /** Rows per chunk: as many whole rows as fit in {@code maxChunkBytes}. */
  static int rowsPerChunk(int rows, int dim, int elementBytes, long maxChunkBytes) {
    long rowBytes = (long) dim * elementBytes;
    if (rowBytes > maxChunkBytes) {
      throw new IllegalArgumentException(
          "dim " + dim + " makes a row of " + rowBytes + " bytes, over " + maxChunkBytes);
    }
    return (int) Math.min(rows, maxChunkBytes / rowBytes);
  }

  /**
   * Bytes the allocator charges for one float32 tensor: every chunk rounded by {@code rounding}.
   */
  static long bytesNeeded(int rows, int dim, long maxChunkBytes, RoundingPolicy rounding) {
    return bytesNeeded(rows, dim, Float.BYTES, maxChunkBytes, rounding);
  }

  /** Bytes the allocator charges for one tensor: every chunk rounded by {@code rounding}. */
  static long bytesNeeded(
      int rows, int dim, int elementBytes, long maxChunkBytes, RoundingPolicy rounding) {
    int perChunk = rowsPerChunk(rows, dim, elementBytes, maxChunkBytes);
    long fullChunkBytes = (long) perChunk * dim * elementBytes;
    long full = rows / perChunk;
    long lastRows = rows % perChunk;
    long bytes = full * rounding.getRoundedSize(fullChunkBytes);
    return lastRows == 0 ? bytes : bytes + rounding.getRoundedSize(lastRows * dim * elementBytes);
  }

  /** A zeroed float32 tensor; see {@link #allocateZeroed(BufferAllocator, int, int, int, long)}. */
  static RowTensor allocateZeroed(BufferAllocator allocator, int rows, int dim, long maxChunk) {
    return allocateZeroed(allocator, rows, dim, Float.BYTES, maxChunk);
  }

  /**
   * Allocates a zeroed tensor of {@code elementBytes}-byte elements. On failure, the chunks already
   * allocated are released before the exception propagates.
   */
  static RowTensor allocateZeroed(
      BufferAllocator allocator, int rows, int dim, int elementBytes, long maxChunk) {
    int perChunk = rowsPerChunk(rows, dim, elementBytes, maxChunk);
    int nChunks = (rows + perChunk - 1) / perChunk;
    ArrowBuf[] chunks = new ArrowBuf[nChunks];
    FloatBuffer[] views = new FloatBuffer[nChunks];
    ShortBuffer[] shorts = new ShortBuffer[nChunks];
    try {
      for (int c = 0; c < nChunks; c++) {
        int chunkRows = Math.min(perChunk, rows - c * perChunk);
        int bytes = chunkRows * dim * elementBytes;
        chunks[c] = allocator.buffer(bytes);
        chunks[c].setZero(0, chunks[c].capacity());
        ByteBuffer view = chunks[c].nioBuffer(0, bytes).order(ByteOrder.nativeOrder());
        views[c] = elementBytes == Float.BYTES ? view.asFloatBuffer() : null;
        shorts[c] = elementBytes == Short.BYTES ? view.asShortBuffer() : null;
      }
    } catch (RuntimeException | Error e) {
      release(chunks);
      throw e;
    }
    return new RowTensor(rows, dim, elementBytes, perChunk, chunks, views, shorts);
  }

  /** Copies row {@code row}'s 16-bit elements into {@code dst[0, dim)}. */
  void getShorts(int row, short[] dst) {
    shorts[row / rowsPerChunk].get((row % rowsPerChunk) * dim, dst, 0, dim);
  }

  /** Copies the row's 16-bit elements [col, col + len) into {@code dst[0, len)}. */
  void getShorts(int row, int col, int len, short[] dst) {
    shorts[row / rowsPerChunk].get((row % rowsPerChunk) * dim + col, dst, 0, len);
  }

  /** Copies {@code src[0, dim)} into row {@code row}'s 16-bit elements. */
  void putShorts(int row, short[] src) {
    shorts[row / rowsPerChunk].put((row % rowsPerChunk) * dim, src, 0, dim);
  }

  /** Copies row {@code row}'s bytes into {@code dst[0, dim * elementBytes)}. */
  void getBytes(int row, byte[] dst) {
    long rowBytes = (long) dim * elementBytes;
    chunks[row / rowsPerChunk].getBytes((row % rowsPerChunk) * rowBytes, dst, 0, (int) rowBytes);
  }

  /** Copies {@code src[0, dim * elementBytes)} into row {@code row}'s bytes. */
  void putBytes(int row, byte[] src) {
    long rowBytes = (long) dim * elementBytes;
    chunks[row / rowsPerChunk].setBytes((row % rowsPerChunk) * rowBytes, src, 0, rowBytes);
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

  /** Copies rows [from, from + count) into {@code dst} from byte {@code at} (row-major). */
  void copyRowsTo(int from, int count, ArrowBuf dst, long at) {
    long rowBytes = (long) dim * elementBytes;
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
    long rowBytes = (long) dim * elementBytes;
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
    long rowBytes = (long) dim * elementBytes;
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
