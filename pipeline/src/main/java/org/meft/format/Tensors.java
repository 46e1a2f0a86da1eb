package org.meft.format;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/** Small helpers for moving tensors between files and the engine. */
public final class Tensors {
  private Tensors() {}

  /**
   * A copy of {@code view} in {@code dataType} that owns its memory; closes the view. Arrays
   * created over a direct buffer (a mapped file included) are zero-copy views of it and must not
   * outlive it. {@code toType(sameType, true)} would return an alias in DJL's PyTorch engine, hence
   * {@code duplicate()}.
   */
  public static NDArray ownedCopy(NDArray view, DataType dataType) {
    try (view) {
      return view.getDataType() == dataType ? view.duplicate() : view.toType(dataType, true);
    }
  }

  /** Reads {@code buffer}'s remaining bytes from {@code channel} at {@code position}. */
  public static void readFully(FileChannel channel, ByteBuffer buffer, long position)
      throws IOException {
    long pos = position;
    while (buffer.hasRemaining()) {
      int n = channel.read(buffer, pos);
      if (n < 0) {
        throw new IOException("unexpected end of file at byte " + pos);
      }
      pos += n;
    }
  }
}
