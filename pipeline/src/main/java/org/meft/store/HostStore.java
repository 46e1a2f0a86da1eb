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
 * values V [N, d] (float32 or bf16, row-major), the AdamW moments m, v [N, d] of the values, and of
 * the keys when they train (float32 or blockwise int8), and per-row AdamW step counts int32 [N], in
 * Arrow off-heap buffers under a child allocator named {@value #ALLOCATOR_NAME} ({@link
 * StoreFormat}). Gradients exist only for the rows in flight, staged per layer ({@link
 * GradientStage}) under a sibling allocator named {@value #STAGE_ALLOCATOR_NAME}. Only the rows a
 * step selects are gathered, receive gradients, and are updated by the sparse AdamW; every other
 * row stays bit-identical.
 *
 * <p>Not thread-safe: one owner calls it; the methods parallelise internally on the current
 * fork-join pool, with results independent of the thread count.
 */
public final class HostStore implements AutoCloseable {
  public static final String ALLOCATOR_NAME = "meft-host-store";
  public static final String STAGE_ALLOCATOR_NAME = "meft-gradient-stage";

  /** Seeds the stochastic rounding of bf16 rows, with the layer, tensor, row and its step. */
  private static final long NOISE_SEED = 0x6d656674L;

  /** A ByteBuffer view addresses at most 2 GiB; tensors are chunked by whole rows below this. */
  static final long MAX_CHUNK_BYTES = Integer.MAX_VALUE;

  private static final int INIT_BLOCK_ROWS = 256;
  private static final int MIN_ROWS_PER_TASK = 16;

  private final BufferAllocator allocator;
  private final BufferAllocator stageAllocator;
  private final StoreFormat format;
  private final int layers;
  private final int rows;
  private final int dim;
  private final long bytes;
  private final StoreLayer[] state;
  private boolean closed;

  private HostStore(
      BufferAllocator allocator,
      BufferAllocator stageAllocator,
      StoreFormat format,
      int rows,
      int dim,
      StoreLayer[] state) {
    this.allocator = allocator;
    this.stageAllocator = stageAllocator;
    this.format = format;
    this.layers = state.length;
    this.rows = rows;
    this.dim = dim;
    this.state = state;
    this.bytes = allocator.getAllocatedMemory();
  }

  /**
   * Bytes a {@link StoreFormat#F32} store of this shape needs; see {@link #bytesNeeded(int, int,
   * int, StoreFormat)}.
   */
  public static long bytesNeeded(int layers, int rows, int dim) {
    return bytesNeeded(layers, rows, dim, StoreFormat.F32);
  }

  /**
   * Bytes a store of this shape and format needs: per layer keys and values, the AdamW m and v of
   * the values and of trained keys (int8 moments: the codes and a float32 scale per block) and
   * int32 step counts [rows], each buffer as an allocator with Arrow's default rounding charges it
   * (a buffer below 16 MiB rounds up to a power of two; larger ones are exact). Equals {@link
   * #bytes()} of such a store; the gradient stage is apart ({@link #gradientBytesNeeded}).
   */
  public static long bytesNeeded(int layers, int rows, int dim, StoreFormat format) {
    return bytesNeeded(
        layers, rows, dim, format, MAX_CHUNK_BYTES, DefaultRoundingPolicy.DEFAULT_ROUNDING_POLICY);
  }

  /** {@link #bytesNeeded(int, int, int)} under {@code allocator}'s own rounding policy. */
  public static long bytesNeeded(BufferAllocator allocator, int layers, int rows, int dim) {
    return bytesNeeded(
        layers, rows, dim, StoreFormat.F32, MAX_CHUNK_BYTES, allocator.getRoundingPolicy());
  }

  static long bytesNeeded(int layers, int rows, int dim, long maxChunk, RoundingPolicy rounding) {
    return bytesNeeded(layers, rows, dim, StoreFormat.F32, maxChunk, rounding);
  }

  static long bytesNeeded(
      int layers, int rows, int dim, StoreFormat format, long maxChunk, RoundingPolicy rounding) {
    checkShape(layers, rows, dim);
    long perLayer = StoreLayer.bytesNeeded(rows, dim, format, maxChunk, rounding);
    return perLayer > Long.MAX_VALUE / layers ? Long.MAX_VALUE : layers * perLayer;
  }

  /**
   * Bytes the gradient stages of a store of this shape hold when at most {@code rowsInFlight} rows
   * a layer receive gradients between two updates (at most N): {@link #gradientBytes()} once a step
   * has staged that many.
   */
  public static long gradientBytesNeeded(
      int layers, int rows, int dim, StoreFormat format, long rowsInFlight) {
    checkShape(layers, rows, dim);
    return layers
        * GradientStage.bytesNeeded(
            Math.min(rows, rowsInFlight),
            dim,
            format.params(),
            MAX_CHUNK_BYTES,
            DefaultRoundingPolicy.DEFAULT_ROUNDING_POLICY);
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
    return allocate(allocator, layers, rows, dim, StoreFormat.F32, keyInitStd, seed);
  }

  /** {@link #allocate(BufferAllocator, int, int, int, float, long)} in {@code format}. */
  public static HostStore allocate(
      BufferAllocator allocator,
      int layers,
      int rows,
      int dim,
      StoreFormat format,
      float keyInitStd,
      long seed) {
    if (Float.isNaN(keyInitStd)) {
      throw new IllegalArgumentException("keyInitStd must be finite and >= 0, got NaN");
    }
    return allocate(allocator, layers, rows, dim, format, keyInitStd, seed, MAX_CHUNK_BYTES);
  }

  /**
   * Allocates a store as {@link #allocate(BufferAllocator, int, int, int, float, long)} does, but
   * with every key zero too: for a store about to be overwritten from a checkpoint.
   */
  public static HostStore allocateZeroed(BufferAllocator allocator, int layers, int rows, int dim) {
    return allocateZeroed(allocator, layers, rows, dim, StoreFormat.F32);
  }

  /** {@link #allocateZeroed(BufferAllocator, int, int, int)} in {@code format}. */
  public static HostStore allocateZeroed(
      BufferAllocator allocator, int layers, int rows, int dim, StoreFormat format) {
    return allocate(allocator, layers, rows, dim, format, Float.NaN, 0, MAX_CHUNK_BYTES);
  }

  /** As {@link #allocate(BufferAllocator, int, int, int, StoreFormat, float, long)}, f32. */
  static HostStore allocate(
      BufferAllocator allocator,
      int layers,
      int rows,
      int dim,
      float keyInitStd,
      long seed,
      long maxChunk) {
    return allocate(allocator, layers, rows, dim, StoreFormat.F32, keyInitStd, seed, maxChunk);
  }

  /** keyInitStd NaN: leave the keys at zero. */
  static HostStore allocate(
      BufferAllocator allocator,
      int layers,
      int rows,
      int dim,
      StoreFormat format,
      float keyInitStd,
      long seed,
      long maxChunk) {
    boolean initialise = !Float.isNaN(keyInitStd);
    if (initialise && (!(keyInitStd >= 0) || Float.isInfinite(keyInitStd))) {
      throw new IllegalArgumentException("keyInitStd must be finite and >= 0, got " + keyInitStd);
    }
    long need = bytesNeeded(layers, rows, dim, format, maxChunk, allocator.getRoundingPolicy());
    long budget = allocator.getHeadroom();
    if (need > budget) {
      String what = "host store of " + layers + " layers x " + rows + " rows x dim " + dim;
      throw new StoreBudgetException(what, need, budget, allocator.getName());
    }
    BufferAllocator child = allocator.newChildAllocator(ALLOCATOR_NAME, 0, need);
    BufferAllocator stage = allocator.newChildAllocator(STAGE_ALLOCATOR_NAME, 0, Long.MAX_VALUE);
    StoreLayer[] state = new StoreLayer[layers];
    try {
      for (int l = 0; l < layers; l++) {
        state[l] = StoreLayer.allocate(child, stage, rows, dim, format, maxChunk);
      }
    } catch (RuntimeException | Error e) {
      for (StoreLayer layer : state) {
        if (layer != null) {
          layer.close();
        }
      }
      stage.close();
      child.close();
      throw e;
    }
    HostStore store = new HostStore(child, stage, format, rows, dim, state);
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
      Rows keys = layer.keys;
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

  public StoreFormat format() {
    return format;
  }

  /**
   * Off-heap bytes of the parameters, moments and steps, equal to {@link #bytesNeeded} and to the
   * child allocator's count.
   */
  public long bytes() {
    return bytes;
  }

  /**
   * Off-heap bytes the gradient stages hold: the blocks for the most rows in flight any step has
   * staged so far, every layer.
   */
  public long gradientBytes() {
    checkOpen();
    long total = 0;
    for (StoreLayer l : state) {
      total += l.stage.bytes();
    }
    return total;
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
   * 0), into {@code layer}'s stage, staging rows not in flight yet. A row repeated within a call or
   * across calls (micro-batches) receives the sum, added in call order. When the keys do not train
   * ({@link StoreFormat#trainKeys}), {@code keyGrads} is ignored and may be null.
   */
  public void accumulateGradients(
      int layer, int[] rowIds, int count, ByteBuffer keyGrads, ByteBuffer valueGrads) {
    StoreLayer l = layer(layer);
    checkRows(rowIds, count);
    FloatBuffer keys = format.trainKeys() ? floats(keyGrads, count, false, "keyGrads") : null;
    FloatBuffer values = floats(valueGrads, count, false, "valueGrads");
    int[] slots = new int[count];
    for (int j = 0; j < count; j++) {
      slots[j] = l.stage.stage(rowIds[j]);
    }
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
              l.addGradients(slots[j], keys, values, j * dim, acc, g);
            }
          }
        });
  }

  /** Sum over every layer's rows in flight of the squared gradients of the trained tensors. */
  public double gradientSquaredNorm() {
    checkOpen();
    double total = 0;
    for (StoreLayer l : state) {
      int n = l.stage.size();
      double[] perRow = new double[n];
      Parallel.forRanges(
          n,
          MIN_ROWS_PER_TASK,
          (from, to) -> {
            float[] g = new float[dim];
            for (int i = from; i < to; i++) {
              perRow[i] = l.gradientSquaredNorm(i, g);
            }
          });
      for (double s : perRow) {
        total += s;
      }
    }
    return total;
  }

  /** Multiplies the staged gradients of every row in flight by {@code factor} (clipping). */
  public void scaleGradients(float factor) {
    checkOpen();
    for (StoreLayer l : state) {
      Parallel.forRanges(
          l.stage.size(),
          MIN_ROWS_PER_TASK,
          (from, to) -> {
            float[] g = new float[dim];
            for (int i = from; i < to; i++) {
              l.scaleGradients(i, factor, g);
            }
          });
    }
  }

  /** Drops the staged gradients, updating nothing. */
  public void discardGradients() {
    checkOpen();
    for (StoreLayer l : state) {
      l.stage.clear();
    }
  }

  /** Distinct rows of {@code layer} in flight since the last {@link #applyAdamW} or discard. */
  public int touchedRows(int layer) {
    return layer(layer).stage.size();
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
   * Sparse AdamW (torch.optim.AdamW, decoupled weight decay) on exactly the rows in flight of every
   * layer, values and trained keys; each row advances its own step t (incremented before use); its
   * key and value move at {@code rate}'s rates for optimizer step {@code step} (from 1) of a run at
   * {@code lr} (peak {@code peakLr}): {@code p -= lr wd p; m = b1 m + (1 - b1) g; v = b2 v + (1 -
   * b2) g^2; p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)}, computed in double and
   * stored as float32 (then written back in the store's format). Then drops the staged gradients.
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
      updated += l.stage.size();
    }
    for (int layer = 0; layer < layers; layer++) {
      StoreLayer l = state[layer];
      long noise = Bf16.mix(NOISE_SEED + layer);
      Parallel.forRanges(
          l.stage.size(),
          MIN_ROWS_PER_TASK,
          (from, to) -> {
            StoreLayer.AdamWScratch scratch = new StoreLayer.AdamWScratch(dim);
            for (int i = from; i < to; i++) {
              l.adamW(i, hyper, rate, keyLr, valueLr, step, noise, scratch);
            }
          });
      l.stage.clear();
    }
    return updated;
  }

  // ------------------------------------------------------------------------ row access (copies)

  public float[] keyRow(int layer, int row) {
    return read(layer(layer).keys, row);
  }

  public float[] valueRow(int layer, int row) {
    return read(layer(layer).values, row);
  }

  /** AdamW moment {@code moment} (1: m, 2: v) of a key row; zero when the keys do not train. */
  public float[] keyMomentRow(int layer, int row, int moment) {
    StoreLayer.Param keys = layer(layer).keyParam();
    if (keys == null) {
      StoreLayer.Param values = layer(layer).valueParam();
      values.moment(moment);
      checkRow(row);
      return new float[dim];
    }
    return read(keys.moment(moment), row);
  }

  /** AdamW moment {@code moment} (1: m, 2: v) of a value row. */
  public float[] valueMomentRow(int layer, int row, int moment) {
    return read(layer(layer).valueParam().moment(moment), row);
  }

  /** The staged gradient of a key row: zero when it is not in flight or the keys do not train. */
  public float[] keyGradientRow(int layer, int row) {
    return gradientRow(layer(layer), row, StoreLayer.KEY_GRADIENTS);
  }

  /** The staged gradient of a value row: zero when it is not in flight. */
  public float[] valueGradientRow(int layer, int row) {
    return gradientRow(layer(layer), row, StoreLayer.VALUE_GRADIENTS);
  }

  private float[] gradientRow(StoreLayer l, int row, int stageIndex) {
    checkRow(row);
    float[] out = new float[dim];
    int slot = l.stage.slot(row);
    if (slot >= 0 && l.param(stageIndex) != null) {
      l.stage.get(slot, stageIndex, out);
    }
    return out;
  }

  /** AdamW steps row {@code row} has taken. */
  public int stepCount(int layer, int row) {
    StoreLayer l = layer(layer);
    checkRow(row);
    return l.steps(row);
  }

  /** Sets a key row (a bf16 store rounds it to nearest). */
  public void setKeyRow(int layer, int row, float[] src) {
    write(layer(layer).keys, row, src);
  }

  /** Sets a value row (a bf16 store rounds it to nearest). */
  public void setValueRow(int layer, int row, float[] src) {
    write(layer(layer).values, row, src);
  }

  /**
   * Sets a key row's moment.
   *
   * @throws IllegalStateException when the keys do not train: the store keeps no key moments
   */
  public void setKeyMomentRow(int layer, int row, int moment, float[] src) {
    StoreLayer.Param keys = layer(layer).keyParam();
    if (keys == null) {
      throw new IllegalStateException("the keys do not train: the store keeps no key moments");
    }
    write(keys.moment(moment), row, src);
  }

  public void setValueMomentRow(int layer, int row, int moment, float[] src) {
    write(layer(layer).valueParam().moment(moment), row, src);
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
    state[layer].keys.get(row, col, len, dst, off);
  }

  /** Copies key rows [row, row + count) of {@code layer} into {@code dst[off, ...)}. */
  public void readKeyRows(int layer, int row, int count, float[] dst, int off) {
    Rows keys = state[layer].keys;
    for (int r = 0; r < count; r++) {
      keys.get(row + r, dst, off + r * dim);
    }
  }

  private float[] read(Rows tensor, int row) {
    checkRow(row);
    float[] out = new float[dim];
    tensor.get(row, out, 0);
    return out;
  }

  private void write(Rows tensor, int row, float[] src) {
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
    stageAllocator.close();
    allocator.close();
  }
}
