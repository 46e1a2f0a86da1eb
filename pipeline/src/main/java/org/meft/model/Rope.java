package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.core.Embedding;

/**
 * Rotary position embedding in the Hugging Face "rotate half" layout: dimension i of a head is
 * paired with i + Dh/2 and both are rotated by angle {@code pos * theta^(-2i/Dh)}. (llama2.c pairs
 * 2i with 2i+1 instead; its loader permutes the q/k rows so that one layout serves both.)
 *
 * <p>Holds the cos/sin tables for positions {@code [start, start + T)}, shape [T, 1, Dh], created
 * in the caller's manager and shared by every layer of one forward pass.
 */
public final class Rope {
  private final NDArray cos; // [T, 1, Dh]
  private final NDArray sin; // [T, 1, Dh]
  private final NDArray rotateHalf; // [Dh, Dh]

  private Rope(NDArray cos, NDArray sin, NDArray rotateHalf) {
    this.cos = cos;
    this.sin = sin;
    this.rotateHalf = rotateHalf;
  }

  /** The tables for {@code length} positions from {@code start}. */
  public static Rope at(
      NDManager manager, int start, int length, int headDim, float theta, DataType dataType) {
    int half = headDim / 2;
    float[] cos = new float[length * headDim];
    float[] sin = new float[length * headDim];
    for (int t = 0; t < length; t++) {
      for (int i = 0; i < half; i++) {
        float frequency = 1.0f / (float) Math.pow(theta, (2 * i) / (float) headDim);
        float angle = (start + t) * frequency;
        float c = (float) Math.cos(angle);
        float s = (float) Math.sin(angle);
        cos[t * headDim + i] = c;
        cos[t * headDim + half + i] = c;
        sin[t * headDim + i] = s;
        sin[t * headDim + half + i] = s;
      }
    }
    Shape shape = new Shape(length, 1, headDim);
    return new Rope(
        manager.create(cos, shape).toType(dataType, false),
        manager.create(sin, shape).toType(dataType, false),
        rotateHalfMatrix(manager, headDim).toType(dataType, false));
  }

  /**
   * The tables of every position in [0, {@code length}), [length, Dh] each, built once per
   * generation so that each forward pass gathers its rows by index ({@link #gather}); the gathered
   * rows equal {@link #at}'s bit for bit.
   */
  public static Rope table(
      NDManager manager, int length, int headDim, float theta, DataType dataType) {
    Rope rows = at(manager, 0, length, headDim, theta, dataType);
    Shape table = new Shape(length, headDim);
    return new Rope(rows.cos.reshape(table), rows.sin.reshape(table), rows.rotateHalf);
  }

  /**
   * positions [B, T] int64 (each sequence its own, as in a left-padded batch) -> the tables of
   * those positions, [B, T, 1, Dh], in positions' manager; this must be a {@link #table}. Three
   * engine calls: each table is read as an embedding of the positions.
   */
  public Rope gather(NDArray positions) {
    NDArray index = positions.expandDims(-1); // [B, T, 1]
    return new Rope(
        Embedding.embedding(index, cos, SparseFormat.DENSE).head(),
        Embedding.embedding(index, sin, SparseFormat.DENSE).head(),
        rotateHalf);
  }

  /** The tables for positions [0, T) of x [B, T, ...], in x's manager and data type. */
  public static Rope forSequence(NDArray x, LlamaConfig config) {
    return at(
        x.getManager(),
        0,
        (int) x.getShape().get(1),
        config.headDim(),
        config.ropeTheta(),
        x.getDataType());
  }

  /**
   * x [B, T, H, Dh] -> x * cos + rotateHalf(x) * sin, same shape (cos [T, 1, Dh] or [B, T, 1, Dh]).
   */
  public NDArray apply(NDArray x) {
    return x.mul(cos).add(x.matMul(rotateHalf).mul(sin));
  }

  /**
   * As {@link #apply}, the same operations in the same order, written over {@code x} (an array of
   * its own, in inference): one product allocates, the rest is in place.
   */
  public NDArray applyInPlace(NDArray x) {
    NDArray rotated = x.matMul(rotateHalf);
    rotated.muli(sin);
    return x.muli(cos).addi(rotated);
  }

  /**
   * R [Dh, Dh] with x R = [-x2, x1] for x = [x1, x2]: one matrix product instead of slicing and
   * concatenating, and exact, since each output is a single input times +-1.
   */
  static NDArray rotateHalfMatrix(NDManager manager, int headDim) {
    int half = headDim / 2;
    float[] r = new float[headDim * headDim];
    for (int i = 0; i < half; i++) {
      r[(i + half) * headDim + i] = -1; // output i takes -x2[i]
      r[i * headDim + i + half] = 1; // output i + half takes x1[i]
    }
    return manager.create(r, new Shape(headDim, headDim));
  }
}
