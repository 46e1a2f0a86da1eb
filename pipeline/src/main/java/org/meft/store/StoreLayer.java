package org.meft.store;

import java.nio.FloatBuffer;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.rounding.RoundingPolicy;

/**
 * One layer of the host store: keys and values [N, d], each with AdamW moments m, v and a gradient
 * accumulator (8 float32 [N, d] tensors), the per-row AdamW step counts int32 [N], and the rows
 * touched since the last update. The row operations here are what {@link HostStore} runs in
 * parallel; each touches only its own row, so distinct rows may run concurrently.
 */
final class StoreLayer implements AutoCloseable {
  /** A trainable tensor [N, d] with its AdamW moments and gradient accumulator. */
  record Param(RowTensor weight, RowTensor m, RowTensor v, RowTensor grad) {
    RowTensor moment(int which) {
      if (which != 1 && which != 2) {
        throw new IllegalArgumentException("moment must be 1 (m) or 2 (v), got " + which);
      }
      return which == 1 ? m : v;
    }
  }

  private static final int FLOAT_TENSORS = 8;

  final Param keys;
  final Param values;
  final TouchedRows touched;
  private final Param[] params;
  private final ArrowBuf steps;

  private StoreLayer(RowTensor[] t, ArrowBuf steps, int rows) {
    this.keys = new Param(t[0], t[1], t[2], t[3]);
    this.values = new Param(t[4], t[5], t[6], t[7]);
    this.params = new Param[] {keys, values};
    this.steps = steps;
    this.touched = new TouchedRows(rows);
  }

  /** Bytes one layer is charged under {@code rounding}. */
  static long bytesNeeded(int rows, int dim, long maxChunk, RoundingPolicy rounding) {
    long tensor = RowTensor.bytesNeeded(rows, dim, maxChunk, rounding);
    long stepBytes = rounding.getRoundedSize((long) rows * Integer.BYTES);
    try {
      return Math.addExact(Math.multiplyExact(FLOAT_TENSORS, tensor), stepBytes);
    } catch (ArithmeticException e) {
      return Long.MAX_VALUE;
    }
  }

  /** Allocates a zeroed layer; on failure, releases what it allocated before rethrowing. */
  static StoreLayer allocate(BufferAllocator allocator, int rows, int dim, long maxChunk) {
    RowTensor[] t = new RowTensor[FLOAT_TENSORS];
    ArrowBuf steps = null;
    try {
      for (int i = 0; i < t.length; i++) {
        t[i] = RowTensor.allocateZeroed(allocator, rows, dim, maxChunk);
      }
      steps = allocator.buffer((long) rows * Integer.BYTES);
      steps.setZero(0, steps.capacity());
      return new StoreLayer(t, steps, rows);
    } catch (RuntimeException | Error e) {
      for (RowTensor tensor : t) {
        if (tensor != null) {
          tensor.close();
        }
      }
      if (steps != null) {
        steps.close();
      }
      throw e;
    }
  }

  int steps(int row) {
    return steps.getInt((long) row * Integer.BYTES);
  }

  void setSteps(int row, int value) {
    steps.setInt((long) row * Integer.BYTES, value);
  }

  /** The tensor behind a column of the checkpoint file. */
  RowTensor tensor(StoreColumn column) {
    return switch (column) {
      case KEY -> keys.weight;
      case VALUE -> values.weight;
      case KEY_M -> keys.m;
      case KEY_V -> keys.v;
      case VALUE_M -> values.m;
      case VALUE_V -> values.v;
    };
  }

  /** Copies the step counts of rows [from, from + count) into {@code dst} from byte {@code at}. */
  void copyStepsTo(int from, int count, ArrowBuf dst, long at) {
    dst.setBytes(at, steps, (long) from * Integer.BYTES, (long) count * Integer.BYTES);
  }

  /** Copies {@code count} step counts from {@code src} at byte {@code at} into rows from. */
  void copyStepsFrom(ArrowBuf src, long at, int from, int count) {
    steps.setBytes((long) from * Integer.BYTES, src, at, (long) count * Integer.BYTES);
  }

  /** Copies the row's key and value to float index {@code at} of the outputs. */
  void gatherRow(int row, FloatBuffer keysOut, FloatBuffer valuesOut, int at) {
    keys.weight.copyTo(row, keysOut, at);
    values.weight.copyTo(row, valuesOut, at);
  }

  /** grad[row] += src[at, at + d), for keys and values; acc and g are [d] scratch. */
  void addGradients(
      int row, FloatBuffer keyGrads, FloatBuffer valueGrads, int at, float[] acc, float[] g) {
    addInPlace(keys.grad, row, keyGrads, at, acc, g);
    addInPlace(values.grad, row, valueGrads, at, acc, g);
  }

  private static void addInPlace(
      RowTensor grad, int row, FloatBuffer src, int at, float[] acc, float[] g) {
    grad.get(row, acc, 0);
    src.get(at, g, 0, g.length);
    for (int i = 0; i < acc.length; i++) {
      acc[i] += g[i];
    }
    grad.put(row, acc, 0);
  }

  /** Sum of squares of the row's key and value gradients, in double. */
  double gradientSquaredNorm(int row, float[] g) {
    double s = 0;
    for (Param p : params) {
      p.grad.get(row, g, 0);
      for (float x : g) {
        s += (double) x * x;
      }
    }
    return s;
  }

  void scaleGradients(int row, float factor, float[] g) {
    for (Param p : params) {
      p.grad.get(row, g, 0);
      for (int i = 0; i < g.length; i++) {
        g[i] *= factor;
      }
      p.grad.put(row, g, 0);
    }
  }

  void zeroGradients(int row) {
    keys.grad.zero(row);
    values.grad.zero(row);
  }

  /**
   * One thread's scratch for {@link #adamW}: a row's weight, m, v and gradient as float32 (bulk
   * copies of the off-heap rows), and for {@link #scalarAdamW} the same widened to double, so that
   * each loop of its update is a plain array loop C2 vectorises (a loop converting float to double
   * on the way does not vectorise).
   */
  static final class AdamWScratch {
    final float[] w;
    final float[] m;
    final float[] v;
    final float[] g;
    private double[][] wide; // w, m, v, g; allocated by the plain-Java update only

    AdamWScratch(int dim) {
      w = new float[dim];
      m = new float[dim];
      v = new float[dim];
      g = new float[dim];
    }

    double[][] wide() {
      if (wide == null) {
        wide = new double[4][w.length];
      }
      return wide;
    }
  }

  /**
   * Advances the row's step t and applies {@link #adamWInPlace} to its key at {@code keyLr} and to
   * its value at {@code rate}'s rate for optimizer step {@code step} ({@code valueLr} its base),
   * then zeroes its gradients.
   */
  void adamW(
      int row,
      AdamW hyper,
      StoreRate rate,
      double keyLr,
      double valueLr,
      int step,
      AdamWScratch scratch) {
    int t = steps(row) + 1;
    setSteps(row, t);
    double bias1 = 1 - Math.pow(hyper.beta1(), t);
    double bias2 = 1 - Math.pow(hyper.beta2(), t);
    for (Param p : params) {
      double lr = p == values ? valueLr * rate.frequencyFactor(step, t) : keyLr;
      p.weight.get(row, scratch.w, 0);
      p.m.get(row, scratch.m, 0);
      p.v.get(row, scratch.v, 0);
      p.grad.get(row, scratch.g, 0);
      adamWInPlace(scratch, hyper, lr, bias1, bias2);
      p.weight.put(row, scratch.w, 0);
      p.m.put(row, scratch.m, 0);
      p.v.put(row, scratch.v, 0);
      p.grad.zero(row);
    }
  }

  /**
   * One row of AdamW at rate {@code lr} in place on {@code s.w, s.m, s.v} given {@code s.g}, in
   * double, with the bias corrections {@code bias1 = 1 - b1^t}, {@code bias2 = 1 - b2^t}: {@code m
   * = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; w = w (1 - lr wd) - (lr / bias1) m / (sqrt(v) /
   * sqrt(bias2) + eps)}, torch.optim.AdamW's arrangement. {@link VectorAdamW} when {@link
   * VectorApi#AVAILABLE}, else {@link #scalarAdamW}: the same bits either way.
   */
  static void adamWInPlace(AdamWScratch s, AdamW hyper, double lr, double bias1, double bias2) {
    double decay = 1 - lr * hyper.weightDecay();
    double stepSize = lr / bias1;
    double bias2Sqrt = Math.sqrt(bias2);
    if (VectorApi.AVAILABLE) {
      VectorAdamW.update(
          s.w,
          s.m,
          s.v,
          s.g,
          hyper.beta1(),
          hyper.beta2(),
          hyper.eps(),
          decay,
          stepSize,
          bias2Sqrt);
    } else {
      scalarAdamW(s, hyper.beta1(), hyper.beta2(), hyper.eps(), decay, stepSize, bias2Sqrt);
    }
  }

  /**
   * The plain-Java update: widened to double in bulk first, so that the update loop is a plain
   * array loop C2 vectorises (a loop converting float to double on the way does not).
   */
  static void scalarAdamW(
      AdamWScratch s,
      double beta1,
      double beta2,
      double eps,
      double decay,
      double stepSize,
      double bias2Sqrt) {
    double[][] wide = s.wide();
    double[] w = wide[0];
    double[] m = wide[1];
    double[] v = wide[2];
    double[] g = wide[3];
    widen(s.w, w);
    widen(s.m, m);
    widen(s.v, v);
    widen(s.g, g);
    // Distinct arrays at index i only: the form C2 vectorises (sqrt and division included).
    for (int i = 0; i < w.length; i++) {
      double mi = beta1 * m[i] + (1 - beta1) * g[i];
      double vi = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
      m[i] = mi;
      v[i] = vi;
      w[i] = w[i] * decay - stepSize * mi / (Math.sqrt(vi) / bias2Sqrt + eps);
    }
    narrow(w, s.w);
    narrow(m, s.m);
    narrow(v, s.v);
  }

  private static void widen(float[] src, double[] dst) {
    for (int i = 0; i < src.length; i++) {
      dst[i] = src[i];
    }
  }

  private static void narrow(double[] src, float[] dst) {
    for (int i = 0; i < dst.length; i++) {
      dst[i] = (float) src[i];
    }
  }

  @Override
  public void close() {
    for (Param p : params) {
      p.weight.close();
      p.m.close();
      p.v.close();
      p.grad.close();
    }
    steps.close();
  }
}
