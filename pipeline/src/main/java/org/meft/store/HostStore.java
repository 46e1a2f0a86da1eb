package org.meft.store;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.SplittableRandom;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.rounding.DefaultRoundingPolicy;
import org.apache.arrow.memory.rounding.RoundingPolicy;

/**
 * The host side of the {@code meft} adapter {@code A(h) = ReLU(h K^T) V}: per layer the keys K and
 * values V [N, d], their AdamW moments m, v [N, d], gradient accumulators [N, d] (all float32,
 * row-major) and per-row AdamW step counts int32 [N], in Arrow off-heap buffers under a child
 * allocator named {@value #ALLOCATOR_NAME}. Only the rows a step selects are gathered, receive
 * gradients, and are updated by the sparse AdamW; every other row stays bit-identical.
 *
 * <p>Not thread-safe: one owner calls it; the methods parallelise internally on the current
 * fork-join pool, with results independent of the thread count.
 */
public final class HostStore implements AutoCloseable {
  public static final String ALLOCATOR_NAME = "meft-host-store";

  /** A ByteBuffer view addresses at most 2 GiB; tensors are chunked by whole rows below this. */
  static final long MAX_CHUNK_BYTES = Integer.MAX_VALUE;

  private static final int TENSORS_PER_PARAM = 4;
  private static final int INIT_BLOCK_ROWS = 256;
  private static final int MIN_ROWS_PER_TASK = 16;

  /** A trainable tensor [N, d] with its AdamW moments and gradient accumulator. */
  private record Param(RowTensor weight, RowTensor m, RowTensor v, RowTensor grad) {
    RowTensor moment(int which) {
      if (which != 1 && which != 2) {
        throw new IllegalArgumentException("moment must be 1 (m) or 2 (v), got " + which);
      }
      return which == 1 ? m : v;
    }
  }

  /** One layer's keys and values, their per-row step counts int32 [N] and touched rows. */
  private static final class Layer {
    final Param keys;
    final Param values;
    final Param[] params;
    final ArrowBuf steps;
    final TouchedRows touched;

    Layer(Param keys, Param values, ArrowBuf steps, TouchedRows touched) {
      this.keys = keys;
      this.values = values;
      this.params = new Param[] {keys, values};
      this.steps = steps;
      this.touched = touched;
    }
  }

  private final BufferAllocator allocator;
  private final int layers;
  private final int rows;
  private final int dim;
  private final long bytes;
  private final Layer[] state;
  private boolean closed;

  private HostStore(BufferAllocator allocator, int rows, int dim, Layer[] state) {
    this.allocator = allocator;
    this.layers = state.length;
    this.rows = rows;
    this.dim = dim;
    this.state = state;
    this.bytes = allocator.getAllocatedMemory();
  }

  /**
   * Bytes a store of this shape needs: per layer keys, values, AdamW m and v for keys and for
   * values, gradient accumulators for keys and values (8 float32 [rows, dim]) and int32 step counts
   * [rows], each buffer as Arrow's default allocator charges it (it rounds a buffer below 16 MiB up
   * to a power of two; larger ones are exact).
   */
  public static long bytesNeeded(int layers, int rows, int dim) {
    return bytesNeeded(
        layers, rows, dim, MAX_CHUNK_BYTES, DefaultRoundingPolicy.DEFAULT_ROUNDING_POLICY);
  }

  static long bytesNeeded(int layers, int rows, int dim, long maxChunk, RoundingPolicy rounding) {
    checkShape(layers, rows, dim);
    long tensor = RowTensor.bytesNeeded(rows, dim, maxChunk, rounding);
    long steps = rounding.getRoundedSize((long) rows * Integer.BYTES);
    try {
      long perLayer = Math.addExact(Math.multiplyExact(2L * TENSORS_PER_PARAM, tensor), steps);
      return Math.multiplyExact(layers, perLayer);
    } catch (ArithmeticException e) {
      return Long.MAX_VALUE;
    }
  }

  /**
   * Allocates a store from a child of {@code allocator}: keys ~ N(0, keyInitStd^2), seeded by
   * {@code seed} (one {@link SplittableRandom} split per layer and per block of rows, so the keys
   * do not depend on the thread count), values, moments, gradients and steps 0.
   *
   * @throws StoreBudgetException before allocating anything, when {@link #bytesNeeded} exceeds the
   *     allocator's headroom (its own and its ancestors' limits)
   */
  public static HostStore allocate(
      BufferAllocator allocator, int layers, int rows, int dim, float keyInitStd, long seed) {
    return allocate(allocator, layers, rows, dim, keyInitStd, seed, MAX_CHUNK_BYTES);
  }

  static HostStore allocate(
      BufferAllocator allocator,
      int layers,
      int rows,
      int dim,
      float keyInitStd,
      long seed,
      long maxChunk) {
    if (!(keyInitStd >= 0) || Float.isInfinite(keyInitStd)) {
      throw new IllegalArgumentException("keyInitStd must be finite and >= 0, got " + keyInitStd);
    }
    long need = bytesNeeded(layers, rows, dim, maxChunk, allocator.getRoundingPolicy());
    long budget = allocator.getHeadroom();
    if (need > budget) {
      String what = "host store of " + layers + " layers x " + rows + " rows x dim " + dim;
      throw new StoreBudgetException(what, need, budget, allocator.getName());
    }
    BufferAllocator child = allocator.newChildAllocator(ALLOCATOR_NAME, 0, need);
    Layer[] state = new Layer[layers];
    try {
      for (int l = 0; l < layers; l++) {
        state[l] = allocateLayer(child, rows, dim, maxChunk);
      }
    } catch (RuntimeException | Error e) {
      for (Layer layer : state) {
        if (layer != null) {
          closeLayer(layer);
        }
      }
      child.close();
      throw e;
    }
    HostStore store = new HostStore(child, rows, dim, state);
    try {
      store.initKeys(keyInitStd, seed);
    } catch (RuntimeException | Error e) {
      store.close();
      throw e;
    }
    return store;
  }

  private static Layer allocateLayer(BufferAllocator a, int rows, int dim, long maxChunk) {
    RowTensor[] t = new RowTensor[2 * TENSORS_PER_PARAM];
    ArrowBuf steps = null;
    try {
      for (int i = 0; i < t.length; i++) {
        t[i] = RowTensor.allocateZeroed(a, rows, dim, maxChunk);
      }
      steps = a.buffer((long) rows * Integer.BYTES);
      steps.setZero(0, steps.capacity());
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
    return new Layer(
        new Param(t[0], t[1], t[2], t[3]),
        new Param(t[4], t[5], t[6], t[7]),
        steps,
        new TouchedRows(rows));
  }

  private void initKeys(float std, long seed) {
    SplittableRandom root = new SplittableRandom(seed);
    int blocks = (rows + INIT_BLOCK_ROWS - 1) / INIT_BLOCK_ROWS;
    for (Layer layer : state) {
      SplittableRandom layerRandom = root.split();
      SplittableRandom[] blockRandom = new SplittableRandom[blocks];
      for (int b = 0; b < blocks; b++) {
        blockRandom[b] = layerRandom.split();
      }
      RowTensor keys = layer.keys.weight;
      Parallel.forRanges(
          blocks,
          1,
          (from, to) -> {
            float[] row = new float[dim];
            for (int b = from; b < to; b++) {
              int end = Math.min(rows, (b + 1) * INIT_BLOCK_ROWS);
              for (int r = b * INIT_BLOCK_ROWS; r < end; r++) {
                for (int i = 0; i < dim; i++) {
                  row[i] = (float) (std * blockRandom[b].nextGaussian());
                }
                keys.put(r, row, 0);
              }
            }
          });
    }
  }

  public int layers() {
    return layers;
  }

  public int rows() {
    return rows;
  }

  public int dim() {
    return dim;
  }

  /** Off-heap bytes held, equal to {@link #bytesNeeded} and to the child allocator's count. */
  public long bytes() {
    return bytes;
  }

  // ---------------------------------------------------------------------------------- gather

  /**
   * Copies rows {@code rowIds[0, count)} of {@code layer}'s keys and values into {@code keysOut}
   * and {@code valuesOut}: direct, native-order buffers receiving row-major float32 [count, d] from
   * byte 0 (their position and limit are ignored and left unchanged).
   */
  public void gather(int layer, int[] rowIds, int count, ByteBuffer keysOut, ByteBuffer valuesOut) {
    Layer l = layer(layer);
    checkRows(rowIds, count);
    FloatBuffer keys = floats(keysOut, count, true, "keysOut");
    FloatBuffer values = floats(valuesOut, count, true, "valuesOut");
    Parallel.forRanges(
        count,
        MIN_ROWS_PER_TASK,
        (from, to) -> {
          for (int j = from; j < to; j++) {
            l.keys.weight.copyTo(rowIds[j], keys, j * dim);
            l.values.weight.copyTo(rowIds[j], values, j * dim);
          }
        });
  }

  // ------------------------------------------------------------------------------- gradients

  /**
   * Adds row gradients, laid out as {@link #gather}'s output (native order, [count, d] from byte
   * 0), into {@code layer}'s accumulators and marks the rows touched. A row repeated within a call
   * or across calls (micro-batches) receives the sum, added in call order.
   */
  public void accumulateGradients(
      int layer, int[] rowIds, int count, ByteBuffer keyGrads, ByteBuffer valueGrads) {
    Layer l = layer(layer);
    checkRows(rowIds, count);
    FloatBuffer keys = floats(keyGrads, count, false, "keyGrads");
    FloatBuffer values = floats(valueGrads, count, false, "valueGrads");
    // Rows are dealt to buckets by id, so repeats of a row add up in one thread, in call order.
    int buckets = Math.max(1, Math.min(4 * Parallel.threads(), count / MIN_ROWS_PER_TASK));
    Parallel.forRanges(
        buckets,
        1,
        (from, to) -> {
          float[] acc = new float[dim];
          float[] g = new float[dim];
          for (int j = 0; j < count; j++) {
            int bucket = rowIds[j] % buckets;
            if (bucket >= from && bucket < to) {
              addInPlace(l.keys.grad, rowIds[j], keys, j * dim, acc, g);
              addInPlace(l.values.grad, rowIds[j], values, j * dim, acc, g);
            }
          }
        });
    for (int j = 0; j < count; j++) {
      l.touched.add(rowIds[j]);
    }
  }

  private static void addInPlace(
      RowTensor grad, int row, FloatBuffer src, int srcIndex, float[] acc, float[] g) {
    grad.get(row, acc, 0);
    src.get(srcIndex, g, 0, g.length);
    for (int i = 0; i < acc.length; i++) {
      acc[i] += g[i];
    }
    grad.put(row, acc, 0);
  }

  /** Sum over every layer's touched rows of the squared key and value gradients. */
  public double gradientSquaredNorm() {
    checkOpen();
    double total = 0;
    for (Layer l : state) {
      int n = l.touched.size();
      double[] perRow = new double[n];
      Parallel.forRanges(
          n,
          MIN_ROWS_PER_TASK,
          (from, to) -> {
            float[] g = new float[dim];
            for (int i = from; i < to; i++) {
              int row = l.touched.get(i);
              perRow[i] = squaredNorm(l.keys.grad, row, g) + squaredNorm(l.values.grad, row, g);
            }
          });
      for (double s : perRow) {
        total += s;
      }
    }
    return total;
  }

  private static double squaredNorm(RowTensor grad, int row, float[] g) {
    grad.get(row, g, 0);
    double s = 0;
    for (float x : g) {
      s += (double) x * x;
    }
    return s;
  }

  /** Multiplies the accumulated gradients of every touched row by {@code factor} (clipping). */
  public void scaleGradients(float factor) {
    forEachTouchedRow(
        (l, row, scratch) -> {
          for (Param p : l.params) {
            p.grad.get(row, scratch[0], 0);
            for (int i = 0; i < dim; i++) {
              scratch[0][i] *= factor;
            }
            p.grad.put(row, scratch[0], 0);
          }
        });
  }

  /** Zeroes the accumulated gradients and clears the touched rows, updating nothing. */
  public void discardGradients() {
    forEachTouchedRow(
        (l, row, scratch) -> {
          l.keys.grad.zero(row);
          l.values.grad.zero(row);
        });
    for (Layer l : state) {
      l.touched.clear();
    }
  }

  /** Distinct rows of {@code layer} touched since the last {@link #applyAdamW} or discard. */
  public int touchedRows(int layer) {
    return layer(layer).touched.size();
  }

  // ---------------------------------------------------------------------------------- AdamW

  /**
   * Sparse AdamW (torch.optim.AdamW, decoupled weight decay) on exactly the touched rows of every
   * layer, keys and values; each row advances its own step t (incremented before use): {@code p -=
   * lr wd p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr (m / (1 - b1^t)) / (sqrt(v /
   * (1 - b2^t)) + eps)}, computed in double and stored as float32. Then zeroes those rows'
   * gradients and clears the touched rows.
   *
   * @return the number of rows updated, over all layers
   */
  public int applyAdamW(float lr, float beta1, float beta2, float eps, float weightDecay) {
    int updated = 0;
    for (Layer l : state) {
      updated += l.touched.size();
    }
    forEachTouchedRow(
        (l, row, scratch) -> {
          int t = l.steps.getInt((long) row * Integer.BYTES) + 1;
          l.steps.setInt((long) row * Integer.BYTES, t);
          double bias1 = 1 - Math.pow(beta1, t);
          double bias2 = 1 - Math.pow(beta2, t);
          for (Param p : l.params) {
            float[] w = scratch[0];
            float[] m = scratch[1];
            float[] v = scratch[2];
            float[] g = scratch[3];
            p.weight.get(row, w, 0);
            p.m.get(row, m, 0);
            p.v.get(row, v, 0);
            p.grad.get(row, g, 0);
            adamWInPlace(w, m, v, g, lr, beta1, beta2, eps, weightDecay, bias1, bias2);
            p.weight.put(row, w, 0);
            p.m.put(row, m, 0);
            p.v.put(row, v, 0);
            p.grad.zero(row);
          }
        });
    for (Layer l : state) {
      l.touched.clear();
    }
    return updated;
  }

  /** One row of AdamW: w, m, v updated in place from g, with bias corrections 1 - b^t given. */
  static void adamWInPlace(
      float[] w,
      float[] m,
      float[] v,
      float[] g,
      double lr,
      double beta1,
      double beta2,
      double eps,
      double weightDecay,
      double bias1,
      double bias2) {
    double decay = 1 - lr * weightDecay;
    double stepSize = lr / bias1;
    double bias2Sqrt = Math.sqrt(bias2);
    for (int i = 0; i < w.length; i++) {
      double mi = beta1 * m[i] + (1 - beta1) * g[i];
      double vi = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
      m[i] = (float) mi;
      v[i] = (float) vi;
      w[i] = (float) (w[i] * decay - stepSize * mi / (Math.sqrt(vi) / bias2Sqrt + eps));
    }
  }

  private interface RowBody {
    void run(Layer layer, int row, float[][] scratch);
  }

  /** Runs {@code body} on every touched row of every layer, with four row scratch arrays. */
  private void forEachTouchedRow(RowBody body) {
    checkOpen();
    for (Layer l : state) {
      Parallel.forRanges(
          l.touched.size(),
          MIN_ROWS_PER_TASK,
          (from, to) -> {
            float[][] scratch = new float[4][dim];
            for (int i = from; i < to; i++) {
              body.run(l, l.touched.get(i), scratch);
            }
          });
    }
  }

  // ------------------------------------------------------------------------ row access (copies)

  public float[] keyRow(int layer, int row) {
    return read(layer(layer).keys.weight, row);
  }

  public float[] valueRow(int layer, int row) {
    return read(layer(layer).values.weight, row);
  }

  /** AdamW moment {@code moment} (1: m, 2: v) of a key row. */
  public float[] keyMomentRow(int layer, int row, int moment) {
    return read(layer(layer).keys.moment(moment), row);
  }

  /** AdamW moment {@code moment} (1: m, 2: v) of a value row. */
  public float[] valueMomentRow(int layer, int row, int moment) {
    return read(layer(layer).values.moment(moment), row);
  }

  public float[] keyGradientRow(int layer, int row) {
    return read(layer(layer).keys.grad, row);
  }

  public float[] valueGradientRow(int layer, int row) {
    return read(layer(layer).values.grad, row);
  }

  /** AdamW steps row {@code row} has taken. */
  public int stepCount(int layer, int row) {
    Layer l = layer(layer);
    checkRow(row);
    return l.steps.getInt((long) row * Integer.BYTES);
  }

  public void setKeyRow(int layer, int row, float[] src) {
    write(layer(layer).keys.weight, row, src);
  }

  public void setValueRow(int layer, int row, float[] src) {
    write(layer(layer).values.weight, row, src);
  }

  public void setKeyMomentRow(int layer, int row, int moment, float[] src) {
    write(layer(layer).keys.moment(moment), row, src);
  }

  public void setValueMomentRow(int layer, int row, int moment, float[] src) {
    write(layer(layer).values.moment(moment), row, src);
  }

  /** Restores a row's step count (from a checkpoint). */
  public void setStepCount(int layer, int row, int steps) {
    Layer l = layer(layer);
    checkRow(row);
    if (steps < 0) {
      throw new IllegalArgumentException("steps must be >= 0, got " + steps);
    }
    l.steps.setInt((long) row * Integer.BYTES, steps);
  }

  void checkLayer(int layer) {
    layer(layer);
  }

  /** Copies key rows [firstRow, firstRow + count) of {@code layer} into {@code dst} [count, d]. */
  void readKeys(int layer, int firstRow, int count, float[] dst) {
    RowTensor keys = layer(layer).keys.weight;
    for (int r = 0; r < count; r++) {
      keys.get(firstRow + r, dst, r * dim);
    }
  }

  private float[] read(RowTensor tensor, int row) {
    checkRow(row);
    float[] out = new float[dim];
    tensor.get(row, out, 0);
    return out;
  }

  private void write(RowTensor tensor, int row, float[] src) {
    checkRow(row);
    if (src.length != dim) {
      throw new IllegalArgumentException("row has " + src.length + " floats, dim is " + dim);
    }
    tensor.put(row, src, 0);
  }

  // ----------------------------------------------------------------------------- validation

  private static void checkShape(int layers, int rows, int dim) {
    if (layers < 1 || rows < 1 || dim < 1) {
      throw new IllegalArgumentException(
          "layers, rows and dim must be >= 1, got " + layers + ", " + rows + ", " + dim);
    }
  }

  private Layer layer(int layer) {
    checkOpen();
    if (layer < 0 || layer >= layers) {
      throw new IndexOutOfBoundsException("layer " + layer + " not in [0, " + layers + ")");
    }
    return state[layer];
  }

  private void checkRow(int row) {
    if (row < 0 || row >= rows) {
      throw new IndexOutOfBoundsException("row " + row + " not in [0, " + rows + ")");
    }
  }

  private void checkRows(int[] ids, int count) {
    if (count < 0 || count > ids.length) {
      throw new IllegalArgumentException("count " + count + " not in [0, " + ids.length + "]");
    }
    for (int j = 0; j < count; j++) {
      checkRow(ids[j]);
    }
  }

  /** A float view of {@code buffer} from byte 0, checked to hold [count, d] floats. */
  private FloatBuffer floats(ByteBuffer buffer, int count, boolean direct, String name) {
    long need = (long) count * dim * Float.BYTES;
    if (buffer.order() != ByteOrder.nativeOrder() || (direct && !buffer.isDirect())) {
      throw new IllegalArgumentException(
          name + " must be a " + (direct ? "direct, " : "") + "native-order buffer");
    }
    if (buffer.capacity() < need) {
      throw new IllegalArgumentException(
          name
              + " holds "
              + buffer.capacity()
              + " bytes, ["
              + count
              + ", "
              + dim
              + "] needs "
              + need);
    }
    return buffer.duplicate().clear().order(ByteOrder.nativeOrder()).asFloatBuffer();
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("host store is closed");
    }
  }

  /** Frees every buffer and the child allocator (which fails on a leak); idempotent. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (Layer l : state) {
      closeLayer(l);
    }
    allocator.close();
  }

  private static void closeLayer(Layer l) {
    for (Param p : l.params) {
      p.weight.close();
      p.m.close();
      p.v.close();
      p.grad.close();
    }
    l.steps.close();
  }
}
