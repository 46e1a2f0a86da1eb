package org.meft.store;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.rounding.RoundingPolicy;

/**
 * One layer of the host store: keys and values [N, d] in the format's dtype, the AdamW moments m, v
 * of the values (and of the keys when they train) in its moment format, the per-row AdamW step
 * counts int32 [N], and the {@link GradientStage} of the rows in flight. The row operations here
 * are what {@link HostStore} runs in parallel; each touches only its own row, so distinct rows may
 * run concurrently.
 */
final class StoreLayer implements AutoCloseable {
  /** A trained tensor [N, d] with its AdamW moments and its index in the gradient stage. */
  record Param(Rows weight, Rows m, Rows v, int stageIndex) {
    Rows moment(int which) {
      if (which != 1 && which != 2) {
        throw new IllegalArgumentException("moment must be 1 (m) or 2 (v), got " + which);
      }
      return which == 1 ? m : v;
    }
  }

  /** Stage index of the values' gradients; the keys', when they train, is 1. */
  static final int VALUE_GRADIENTS = 0;

  static final int KEY_GRADIENTS = 1;

  final Rows keys;
  final Rows values;

  /** The trained tensors: values, then keys when they train. */
  final Param[] params;

  final StoreFormat format;
  final GradientStage stage;
  private final ArrowBuf steps;
  private final List<AutoCloseable> owned;

  private StoreLayer(
      StoreFormat format,
      Rows keys,
      Rows values,
      Param[] params,
      ArrowBuf steps,
      GradientStage stage,
      List<AutoCloseable> owned) {
    this.format = format;
    this.keys = keys;
    this.values = values;
    this.params = params;
    this.steps = steps;
    this.stage = stage;
    this.owned = owned;
  }

  /** Bytes one layer's parameters, moments and steps are charged under {@code rounding}. */
  static long bytesNeeded(
      int rows, int dim, StoreFormat format, long maxChunk, RoundingPolicy rounding) {
    try {
      long weight = RowTensor.bytesNeeded(rows, dim, format.dtype().bytes(), maxChunk, rounding);
      long moment =
          format.moments() == StoreMoments.F32
              ? RowTensor.bytesNeeded(rows, dim, maxChunk, rounding)
              : Math.addExact(
                  RowTensor.bytesNeeded(rows, dim, 1, maxChunk, rounding),
                  RowTensor.bytesNeeded(rows, Int8Rows.blocks(dim), maxChunk, rounding));
      long stepBytes = rounding.getRoundedSize((long) rows * Integer.BYTES);
      long tensors =
          Math.addExact(
              Math.multiplyExact(2, weight), Math.multiplyExact(2L * format.params(), moment));
      return Math.addExact(tensors, stepBytes);
    } catch (ArithmeticException e) {
      return Long.MAX_VALUE;
    }
  }

  /**
   * Allocates a zeroed layer (its stage from {@code stageAllocator}); on failure, releases what it
   * allocated before rethrowing.
   */
  static StoreLayer allocate(
      BufferAllocator allocator,
      BufferAllocator stageAllocator,
      int rows,
      int dim,
      StoreFormat format,
      long maxChunk) {
    List<AutoCloseable> owned = new ArrayList<>();
    try {
      Rows keys = weight(allocator, rows, dim, format, maxChunk, owned);
      Rows values = weight(allocator, rows, dim, format, maxChunk, owned);
      Param valueParam =
          new Param(
              values,
              moment(allocator, rows, dim, format, DynamicMap.SIGNED, maxChunk, owned),
              moment(allocator, rows, dim, format, DynamicMap.UNSIGNED, maxChunk, owned),
              VALUE_GRADIENTS);
      Param[] params = {valueParam};
      if (format.trainKeys()) {
        Param keyParam =
            new Param(
                keys,
                moment(allocator, rows, dim, format, DynamicMap.SIGNED, maxChunk, owned),
                moment(allocator, rows, dim, format, DynamicMap.UNSIGNED, maxChunk, owned),
                KEY_GRADIENTS);
        params = new Param[] {valueParam, keyParam};
      }
      ArrowBuf steps = allocator.buffer((long) rows * Integer.BYTES);
      owned.add(steps);
      steps.setZero(0, steps.capacity());
      GradientStage stage = new GradientStage(stageAllocator, rows, dim, params.length, maxChunk);
      owned.add(stage);
      return new StoreLayer(format, keys, values, params, steps, stage, owned);
    } catch (RuntimeException | Error e) {
      closeAll(owned);
      throw e;
    }
  }

  private static Rows weight(
      BufferAllocator allocator,
      int rows,
      int dim,
      StoreFormat format,
      long maxChunk,
      List<AutoCloseable> owned) {
    RowTensor t = RowTensor.allocateZeroed(allocator, rows, dim, format.dtype().bytes(), maxChunk);
    owned.add(t);
    return format.dtype() == StoreDtype.F32 ? new F32Rows(t) : new Bf16Rows(t);
  }

  private static Rows moment(
      BufferAllocator allocator,
      int rows,
      int dim,
      StoreFormat format,
      DynamicMap map,
      long maxChunk,
      List<AutoCloseable> owned) {
    if (format.moments() == StoreMoments.F32) {
      RowTensor t = RowTensor.allocateZeroed(allocator, rows, dim, maxChunk);
      owned.add(t);
      return new F32Rows(t);
    }
    RowTensor codes = RowTensor.allocateZeroed(allocator, rows, dim, 1, maxChunk);
    owned.add(codes);
    RowTensor scales = RowTensor.allocateZeroed(allocator, rows, Int8Rows.blocks(dim), maxChunk);
    owned.add(scales);
    // A zero scale decodes every code to zero: a fresh row's moments are zero.
    return new Int8Rows(codes, scales, map);
  }

  private static void closeAll(List<AutoCloseable> owned) {
    for (int i = owned.size() - 1; i >= 0; i--) {
      try {
        owned.get(i).close();
      } catch (Exception e) {
        throw new IllegalStateException("cannot free a store buffer", e);
      }
    }
  }

  /** The trained tensor whose gradients sit at stage index {@code index}, or null. */
  Param param(int stageIndex) {
    return stageIndex < params.length ? params[stageIndex] : null;
  }

  /** The keys' moments when they train, else null. */
  Param keyParam() {
    return param(KEY_GRADIENTS);
  }

  Param valueParam() {
    return params[VALUE_GRADIENTS];
  }

  int steps(int row) {
    return steps.getInt((long) row * Integer.BYTES);
  }

  void setSteps(int row, int value) {
    steps.setInt((long) row * Integer.BYTES, value);
  }

  /** The tensor behind a column of the checkpoint file; null when this layer keeps none. */
  Rows tensor(StoreColumn column) {
    Param keyParam = keyParam();
    return switch (column) {
      case KEY -> keys;
      case VALUE -> values;
      case KEY_M -> keyParam == null ? null : keyParam.m();
      case KEY_V -> keyParam == null ? null : keyParam.v();
      case VALUE_M -> valueParam().m();
      case VALUE_V -> valueParam().v();
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

  /** Decodes the row's key and value to float index {@code at} of the outputs. */
  void gatherRow(int row, FloatBuffer keysOut, FloatBuffer valuesOut, int at) {
    keys.copyTo(row, keysOut, at);
    values.copyTo(row, valuesOut, at);
  }

  /**
   * stage[slot] += src[at, at + d), for the values and, when they train, the keys ({@code keyGrads}
   * is ignored otherwise); acc and g are [d] scratch.
   */
  void addGradients(
      int slot, FloatBuffer keyGrads, FloatBuffer valueGrads, int at, float[] acc, float[] g) {
    stage.add(slot, VALUE_GRADIENTS, valueGrads, at, acc, g);
    if (params.length > KEY_GRADIENTS) {
      stage.add(slot, KEY_GRADIENTS, keyGrads, at, acc, g);
    }
  }

  /** Sum of squares of the staged gradients of slot {@code slot}, in double. */
  double gradientSquaredNorm(int slot, float[] g) {
    double s = 0;
    for (Param p : params) {
      stage.get(slot, p.stageIndex(), g);
      for (float x : g) {
        s += (double) x * x;
      }
    }
    return s;
  }

  void scaleGradients(int slot, float factor, float[] g) {
    for (Param p : params) {
      stage.get(slot, p.stageIndex(), g);
      for (int i = 0; i < g.length; i++) {
        g[i] *= factor;
      }
      stage.put(slot, p.stageIndex(), g);
    }
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
   * Advances slot {@code slot}'s row's step t and applies {@link #adamWInPlace} to its value at
   * {@code rate}'s rate for optimizer step {@code step} ({@code valueLr} its base) and, when they
   * train, to its key at {@code keyLr}, in float32 on the decoded row; the updated row is written
   * back in the store's format, a bf16 one rounded stochastically with bits drawn from {@code
   * noiseSeed}, the row and t (so any thread count and a resumed run draw the same bits).
   */
  void adamW(
      int slot,
      AdamW hyper,
      StoreRate rate,
      double keyLr,
      double valueLr,
      int step,
      long noiseSeed,
      AdamWScratch scratch) {
    int row = stage.row(slot);
    int t = steps(row) + 1;
    setSteps(row, t);
    double bias1 = 1 - Math.pow(hyper.beta1(), t);
    double bias2 = 1 - Math.pow(hyper.beta2(), t);
    for (Param p : params) {
      double lr =
          p.stageIndex() == VALUE_GRADIENTS ? valueLr * rate.frequencyFactor(step, t) : keyLr;
      p.weight().get(row, scratch.w, 0);
      p.m().get(row, scratch.m, 0);
      p.v().get(row, scratch.v, 0);
      stage.get(slot, p.stageIndex(), scratch.g);
      adamWInPlace(scratch, hyper, lr, bias1, bias2);
      long seed = Bf16.mix(Bf16.mix(noiseSeed + p.stageIndex()) + ((long) row << 32 | t));
      p.weight().putUpdated(row, scratch.w, seed);
      p.m().put(row, scratch.m, 0);
      p.v().put(row, scratch.v, 0);
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
    closeAll(owned);
  }
}
