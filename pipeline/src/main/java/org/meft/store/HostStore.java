package org.meft.store;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.SplittableRandom;
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

  private static final int INIT_BLOCK_ROWS = 256;
  private static final int MIN_ROWS_PER_TASK = 16;

  private final BufferAllocator allocator;
  private final int layers;
  private final int rows;
  private final int dim;
  private final long bytes;
  private final StoreLayer[] state;
  private boolean closed;

  private HostStore(BufferAllocator allocator, int rows, int dim, StoreLayer[] state) {
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
   * [rows], each buffer as an allocator with Arrow's default rounding charges it (a buffer below 16
   * MiB rounds up to a power of two; larger ones are exact). Equals {@link #bytes()} of such a
   * store.
   */
  public static long bytesNeeded(int layers, int rows, int dim) {
    return bytesNeeded(
        layers, rows, dim, MAX_CHUNK_BYTES, DefaultRoundingPolicy.DEFAULT_ROUNDING_POLICY);
  }

  /** {@link #bytesNeeded(int, int, int)} under {@code allocator}'s own rounding policy. */
  public static long bytesNeeded(BufferAllocator allocator, int layers, int rows, int dim) {
    return bytesNeeded(layers, rows, dim, MAX_CHUNK_BYTES, allocator.getRoundingPolicy());
  }

  static long bytesNeeded(int layers, int rows, int dim, long maxChunk, RoundingPolicy rounding) {
    checkShape(layers, rows, dim);
    long perLayer = StoreLayer.bytesNeeded(rows, dim, maxChunk, rounding);
    return perLayer > Long.MAX_VALUE / layers ? Long.MAX_VALUE : layers * perLayer;
  }

  /**
   * Allocates a store from a child of {@code allocator}: keys ~ N(0, keyInitStd^2), seeded by
   * {@code seed} (one {@link SplittableRandom} split per layer and per block of rows, so the keys
   * do not depend on the thread count), values, moments, gradients and steps 0.
   *
   * @throws StoreBudgetException before allocating anything, when {@link
   *     #bytesNeeded(BufferAllocator, int, int, int)} exceeds the allocator's headroom (its own and
   *     its ancestors' limits)
   */
  public static HostStore allocate(
      BufferAllocator allocator, int layers, int rows, int dim, float keyInitStd, long seed) {
    if (Float.isNaN(keyInitStd)) {
      throw new IllegalArgumentException("keyInitStd must be finite and >= 0, got NaN");
    }
    return allocate(allocator, layers, rows, dim, keyInitStd, seed, MAX_CHUNK_BYTES);
  }

  /**
   * Allocates a store as {@link #allocate(BufferAllocator, int, int, int, float, long)} does, but
   * with every key zero too: for a store about to be overwritten from a checkpoint.
   */
  public static HostStore allocateZeroed(BufferAllocator allocator, int layers, int rows, int dim) {
    return allocate(allocator, layers, rows, dim, Float.NaN, 0, MAX_CHUNK_BYTES);
  }

  /** keyInitStd NaN: leave the keys at zero. */
  static HostStore allocate(
      BufferAllocator allocator,
      int layers,
      int rows,
      int dim,
      float keyInitStd,
      long seed,
      long maxChunk) {
    boolean initialise = !Float.isNaN(keyInitStd);
    if (initialise && (!(keyInitStd >= 0) || Float.isInfinite(keyInitStd))) {
      throw new IllegalArgumentException("keyInitStd must be finite and >= 0, got " + keyInitStd);
    }
    long need = bytesNeeded(layers, rows, dim, maxChunk, allocator.getRoundingPolicy());
    long budget = allocator.getHeadroom();
    if (need > budget) {
      String what = "host store of " + layers + " layers x " + rows + " rows x dim " + dim;
      throw new StoreBudgetException(what, need, budget, allocator.getName());
    }
    BufferAllocator child = allocator.newChildAllocator(ALLOCATOR_NAME, 0, need);
    StoreLayer[] state = new StoreLayer[layers];
    try {
      for (int l = 0; l < layers; l++) {
        state[l] = StoreLayer.allocate(child, rows, dim, maxChunk);
      }
    } catch (RuntimeException | Error e) {
      for (StoreLayer layer : state) {
        if (layer != null) {
          layer.close();
        }
      }
      child.close();
      throw e;
    }
    HostStore store = new HostStore(child, rows, dim, state);
    if (!initialise) {
      return store;
    }
    try {
      store.initKeys(keyInitStd, seed);
    } catch (RuntimeException | Error e) {
      store.close();
      throw e;
    }
    return store;
  }

  private void initKeys(float std, long seed) {
    SplittableRandom root = new SplittableRandom(seed);
    int blocks = (rows + INIT_BLOCK_ROWS - 1) / INIT_BLOCK_ROWS;
    for (StoreLayer layer : state) {
      SplittableRandom layerRandom = root.split();
      SplittableRandom[] blockRandom = new SplittableRandom[blocks];
      for (int b = 0; b < blocks; b++) {
        blockRandom[b] = layerRandom.split();
      }
      RowTensor keys = layer.keys.weight();
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
    StoreLayer l = layer(layer);
    checkRows(rowIds, count);
    FloatBuffer keys = floats(keysOut, count, true, "keysOut");
    FloatBuffer values = floats(valuesOut, count, true, "valuesOut");
    Parallel.forRanges(
        count,
        MIN_ROWS_PER_TASK,
        (from, to) -> {
          for (int j = from; j < to; j++) {
            l.gatherRow(rowIds[j], keys, values, j * dim);
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
    StoreLayer l = layer(layer);
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
              l.addGradients(rowIds[j], keys, values, j * dim, acc, g);
            }
          }
        });
    for (int j = 0; j < count; j++) {
      l.touched.add(rowIds[j]);
    }
  }

  /** Sum over every layer's touched rows of the squared key and value gradients. */
  public double gradientSquaredNorm() {
    checkOpen();
    double total = 0;
    for (StoreLayer l : state) {
      int n = l.touched.size();
      double[] perRow = new double[n];
      Parallel.forRanges(
          n,
          MIN_ROWS_PER_TASK,
          (from, to) -> {
            float[] g = new float[dim];
            for (int i = from; i < to; i++) {
              perRow[i] = l.gradientSquaredNorm(l.touched.get(i), g);
            }
          });
      for (double s : perRow) {
        total += s;
      }
    }
    return total;
  }

  /** Multiplies the accumulated gradients of every touched row by {@code factor} (clipping). */
  public void scaleGradients(float factor) {
    forEachTouchedRow((l, row, scratch) -> l.scaleGradients(row, factor, scratch[0]));
  }

  /** Zeroes the accumulated gradients and clears the touched rows, updating nothing. */
  public void discardGradients() {
    forEachTouchedRow((l, row, scratch) -> l.zeroGradients(row));
    for (StoreLayer l : state) {
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
   * layer, keys and values, every row at {@code lr}; see {@link #applyAdamW(StoreRate, float,
   * float, int, float, float, float, float)}.
   *
   * @return the number of rows updated, over all layers
   */
  public int applyAdamW(float lr, float beta1, float beta2, float eps, float weightDecay) {
    return applyAdamW(StoreRate.RUN, lr, lr, 1, beta1, beta2, eps, weightDecay);
  }

  /**
   * Sparse AdamW (torch.optim.AdamW, decoupled weight decay) on exactly the touched rows of every
   * layer, keys and values; each row advances its own step t (incremented before use); its key and
   * value move at {@code rate}'s rates for optimizer step {@code step} (from 1) of a run at {@code
   * lr} (peak {@code peakLr}): {@code p -= lr wd p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
   * p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)}, computed in double and stored as
   * float32. Then zeroes those rows' gradients and clears the touched rows.
   *
   * @return the number of rows updated, over all layers
   */
  public int applyAdamW(
      StoreRate rate,
      float lr,
      float peakLr,
      int step,
      float beta1,
      float beta2,
      float eps,
      float weightDecay) {
    checkOpen();
    AdamW hyper = new AdamW(lr, beta1, beta2, eps, weightDecay);
    double keyLr = rate.key(lr);
    double valueLr = rate.value(lr, peakLr);
    int updated = 0;
    for (StoreLayer l : state) {
      updated += l.touched.size();
    }
    for (StoreLayer l : state) {
      Parallel.forRanges(
          l.touched.size(),
          MIN_ROWS_PER_TASK,
          (from, to) -> {
            StoreLayer.AdamWScratch scratch = new StoreLayer.AdamWScratch(dim);
            for (int i = from; i < to; i++) {
              l.adamW(l.touched.get(i), hyper, rate, keyLr, valueLr, step, scratch);
            }
          });
      l.touched.clear();
    }
    return updated;
  }

  private interface RowBody {
    void run(StoreLayer layer, int row, float[][] scratch);
  }

  /** Runs {@code body} on every touched row of every layer, with four row scratch arrays. */
  private void forEachTouchedRow(RowBody body) {
    checkOpen();
    for (StoreLayer l : state) {
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
    return read(layer(layer).keys.weight(), row);
  }

  public float[] valueRow(int layer, int row) {
    return read(layer(layer).values.weight(), row);
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
    return read(layer(layer).keys.grad(), row);
  }

  public float[] valueGradientRow(int layer, int row) {
    return read(layer(layer).values.grad(), row);
  }

  /** AdamW steps row {@code row} has taken. */
  public int stepCount(int layer, int row) {
    StoreLayer l = layer(layer);
    checkRow(row);
    return l.steps(row);
  }

  public void setKeyRow(int layer, int row, float[] src) {
    write(layer(layer).keys.weight(), row, src);
  }

  public void setValueRow(int layer, int row, float[] src) {
    write(layer(layer).values.weight(), row, src);
  }

  public void setKeyMomentRow(int layer, int row, int moment, float[] src) {
    write(layer(layer).keys.moment(moment), row, src);
  }

  public void setValueMomentRow(int layer, int row, int moment, float[] src) {
    write(layer(layer).values.moment(moment), row, src);
  }

  /** Restores a row's step count (from a checkpoint). */
  public void setStepCount(int layer, int row, int steps) {
    StoreLayer l = layer(layer);
    checkRow(row);
    if (steps < 0) {
      throw new IllegalArgumentException("steps must be >= 0, got " + steps);
    }
    l.setSteps(row, steps);
  }

  /** Throws naming the layer when it is not one of the store's. */
  public void checkLayer(int layer) {
    layer(layer);
  }

  /** The layer's buffers, for {@link StoreFile}. */
  StoreLayer layerState(int layer) {
    return layer(layer);
  }

  /**
   * Copies key {@code row}'s floats [col, col + len) of {@code layer} into {@code dst[off, ...)}.
   */
  public void readKeySlice(int layer, int row, int col, int len, float[] dst, int off) {
    state[layer].keys.weight().get(row, col, len, dst, off);
  }

  /** Copies key rows [row, row + count) of {@code layer} into {@code dst[off, ...)}. */
  public void readKeyRows(int layer, int row, int count, float[] dst, int off) {
    state[layer].keys.weight().getRows(row, count, dst, off);
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

  private StoreLayer layer(int layer) {
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
    for (StoreLayer l : state) {
      l.close();
    }
    allocator.close();
  }
}
