package org.meft.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import com.google.gson.JsonObject;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.meft.retrieval.KeyRetrieval;
import org.meft.store.HostStore;
import org.meft.store.Parallel;

/**
 * The host hot paths alone, each beside its physical yardstick measured in the same run on the same
 * threads:
 *
 * <ul>
 *   <li>retrieval scoring (FLOP/s) beside PyTorch's CPU matrix product of the same FLOPs, {@code h
 *       [M, d] x K^T [d, P R]}: the dense product the scoring would be if every token probed the
 *       same P experts, computed by the best single-precision GEMM on this machine (the BLAS that
 *       libtorch ships), on its intra-op threads. Beside them, what separates the two: the key read
 *       alone (every probed expert's keys copied from the store once, in the scorer's blocks and
 *       ranges: the memory traffic scoring cannot avoid, where the GEMM finds its operands in
 *       cache), and the same scoring FLOPs with the keys in cache (every token probing the same P
 *       experts of a store of P R rows, so that each key block serves many tasks);
 *   <li>gather and scatter-add of S random rows (GB/s, bytes read plus bytes written) beside a
 *       plain copy of the same bytes from a region as large as the rows are drawn from, split over
 *       the same fork-join threads in the same ranges;
 *   <li>the sparse AdamW over those S rows (GB/s of state read and written: weight, m, v and
 *       gradient, read and written, for keys and values) beside the same copy.
 * </ul>
 *
 * Each repetition draws fresh rows (and the copy a fresh source offset), so no repetition finds its
 * data in the caches from the one before.
 */
public final class KernelBench {
  /** Bytes per gathered byte for scatter-add: gradient read, accumulator read and written. */
  private static final int SCATTER_TRAFFIC = 3;

  /** Bytes per row byte for AdamW: weight, m, v, gradient, each read and written. */
  private static final int ADAMW_TRAFFIC = 8;

  /** Key rows per copy in the key read: the scorer's block (96 KiB at d = 1024). */
  private static final int KEY_BLOCK = 24;

  /** Largest copy source, so that a quick run stays small. */
  private static final long MAX_COPY_SOURCE = 1L << 30;

  /** What one run measured; rates are from the medians. */
  public record Result(
      KernelShape shape,
      int javaThreads,
      int torchThreads,
      Sample scoring,
      Sample keyRead,
      Sample scoringCached,
      Sample retrieval,
      Sample matmul,
      Sample gather,
      Sample scatter,
      Sample adamW,
      Sample copy) {

    public double scoringGflops() {
      return shape.scoringFlops() / scoring.median() / 1e9;
    }

    public double scoringCachedGflops() {
      return shape.scoringFlops() / scoringCached.median() / 1e9;
    }

    /** GB/s of the key read: N d floats when every expert is probed. */
    public double keyReadGbps() {
      return (double) shape.rows() * shape.dim() * Float.BYTES / keyRead.median() / 1e9;
    }

    /** The key read's share of the scoring time: what streaming the keys costs it. */
    public double keyReadShareOfScoring() {
      return keyRead.median() / scoring.median();
    }

    public double matmulGflops() {
      return shape.scoringFlops() / matmul.median() / 1e9;
    }

    public double copyGbps() {
      return 2.0 * shape.selectedBytes() / copy.median() / 1e9;
    }

    public double gatherGbps() {
      return 2.0 * shape.selectedBytes() / gather.median() / 1e9;
    }

    public double scatterGbps() {
      return (double) SCATTER_TRAFFIC * shape.selectedBytes() / scatter.median() / 1e9;
    }

    public double adamWGbps() {
      long steps = 2L * shape.selected() * Integer.BYTES;
      return ((double) ADAMW_TRAFFIC * shape.selectedBytes() + steps) / adamW.median() / 1e9;
    }

    public JsonObject toJson() {
      JsonObject json = new JsonObject();
      json.add("shape", shape.toJson());
      json.addProperty("java_threads", javaThreads);
      json.addProperty("torch_threads", torchThreads);
      json.add("scoring", rate(scoring, "gflops", scoringGflops()));
      json.add("key_read", rate(keyRead, "gbps", keyReadGbps()));
      json.add("scoring_keys_in_cache", rate(scoringCached, "gflops", scoringCachedGflops()));
      json.add(
          "retrieval_with_top_k",
          rate(retrieval, "gflops", shape.scoringFlops() / retrieval.median() / 1e9));
      json.add("matmul_torch", rate(matmul, "gflops", matmulGflops()));
      json.add("gather", rate(gather, "gbps", gatherGbps()));
      json.add("scatter_add", rate(scatter, "gbps", scatterGbps()));
      json.add("adamw", rate(adamW, "gbps", adamWGbps()));
      json.add("copy", rate(copy, "gbps", copyGbps()));
      json.addProperty("scoring_over_matmul", scoringGflops() / matmulGflops());
      json.addProperty("key_read_share_of_scoring", keyReadShareOfScoring());
      json.addProperty("scoring_keys_in_cache_over_matmul", scoringCachedGflops() / matmulGflops());
      json.addProperty("gather_over_copy", gatherGbps() / copyGbps());
      json.addProperty("scatter_over_copy", scatterGbps() / copyGbps());
      json.addProperty("adamw_over_copy", adamWGbps() / copyGbps());
      return json;
    }

    private static JsonObject rate(Sample sample, String unit, double value) {
      JsonObject json = sample.toJson();
      json.addProperty(unit, value);
      return json;
    }
  }

  private static final String SCORING = "scoring";
  private static final String KEY_READ = "key_read";
  private static final String SCORING_CACHED = "scoring_cached";
  private static final String MATMUL = "matmul";
  private static final String RETRIEVAL = "retrieval";
  private static final String COPY = "copy";
  private static final String GATHER = "gather";
  private static final String SCATTER = "scatter";
  private static final String ADAMW = "adamw";

  private KernelBench() {}

  /** Measures every kernel at {@code shape}; the store and buffers come from {@code allocator}. */
  public static Result run(KernelShape shape, BufferAllocator allocator, NDManager manager) {
    int n = shape.rows();
    int d = shape.dim();
    int m = shape.tokens();
    int s = shape.selected();
    int p = shape.probes();
    int columns = p * shape.rowsPerExpert();
    SplittableRandom random = new SplittableRandom(7);
    float[] h = gaussian(random, m * d);
    int[] probeExperts = new int[m * p];
    float[] probeScores = new float[m * p];
    probes(random, m, p, shape.experts(), probeExperts, probeScores);
    // Keys in cache: P experts of R rows, every token probing all of them (the same FLOPs).
    int[] allExperts = new int[m * p];
    for (int i = 0; i < allExperts.length; i++) {
      allExperts[i] = i % p;
    }
    // Gather, scatter and AdamW each take their own fresh rows every round.
    int rounds = shape.warmup() + shape.repetitions();
    int[][] rowSets = new int[3 * rounds][];
    for (int i = 0; i < rowSets.length; i++) {
      rowSets[i] = sortedDistinct(random, n, s);
    }
    long rowBytes = (long) s * d * Float.BYTES;
    long copySource = Math.max(4 * rowBytes, Math.min(MAX_COPY_SOURCE, 2L * n * d * Float.BYTES));
    long unitBytes = (long) d * Float.BYTES;

    try (HostStore store = HostStore.allocate(allocator, 1, n, d, 0.02f, 11);
        HostStore cached =
            HostStore.allocate(allocator, 1, p * shape.rowsPerExpert(), d, 0.02f, 13);
        ArrowBuf keysOut = allocator.buffer(rowBytes);
        ArrowBuf valuesOut = allocator.buffer(rowBytes);
        ArrowBuf keyGrads = allocator.buffer(rowBytes);
        ArrowBuf valueGrads = allocator.buffer(rowBytes);
        ArrowBuf source = allocator.buffer(copySource);
        ArrowBuf target = allocator.buffer(2 * rowBytes);
        NDManager sub = manager.newSubManager()) {
      source.setZero(0, source.capacity());
      target.setZero(0, target.capacity());
      fill(random, keyGrads, s * d);
      fill(random, valueGrads, s * d);
      ByteBuffer keysView = view(keysOut, rowBytes);
      ByteBuffer valuesView = view(valuesOut, rowBytes);
      ByteBuffer keyGradView = view(keyGrads, rowBytes);
      ByteBuffer valueGradView = view(valueGrads, rowBytes);
      NDArray a = sub.create(gaussian(random, m * d), new Shape(m, d));
      NDArray bt = sub.create(gaussian(random, columns * d), new Shape(columns, d)).transpose();
      int[][] rows = new int[3][];
      long[] offset = new long[1];
      List<Harness.Case> cases =
          List.of(
              Harness.Case.of(
                  SCORING,
                  () ->
                      KeyRetrieval.scores(
                          store, 0, h, m, probeExperts, probeScores, p, shape.experts())),
              Harness.Case.of(KEY_READ, () -> readKeys(store, shape)),
              Harness.Case.of(
                  SCORING_CACHED,
                  () -> KeyRetrieval.scores(cached, 0, h, m, allExperts, probeScores, p, p)),
              Harness.Case.of(
                  MATMUL,
                  () -> {
                    try (NDArray product = a.matMul(bt)) {
                      product.getShape(); // computed eagerly; nothing to read back
                    }
                  }),
              Harness.Case.of(
                  RETRIEVAL,
                  () ->
                      KeyRetrieval.topK(
                          store,
                          0,
                          h,
                          m,
                          probeExperts,
                          probeScores,
                          p,
                          shape.experts(),
                          shape.topK())),
              new Harness.Case(
                  COPY,
                  round -> offset[0] = (round * 2 * rowBytes) % (copySource - 2 * rowBytes) & ~63L,
                  () ->
                      Parallel.forRanges(
                          2 * s, // rows of keys and values: the ranges gather splits its work by
                          16,
                          (from, to) ->
                              target.setBytes(
                                  from * unitBytes,
                                  source,
                                  offset[0] + from * unitBytes,
                                  (to - from) * unitBytes))),
              new Harness.Case(
                  GATHER,
                  round -> rows[0] = rowSets[3 * round],
                  () -> store.gather(0, rows[0], s, keysView, valuesView)),
              new Harness.Case(
                  SCATTER,
                  round -> {
                    store.discardGradients();
                    rows[1] = rowSets[3 * round + 1];
                  },
                  () -> store.accumulateGradients(0, rows[1], s, keyGradView, valueGradView)),
              new Harness.Case(
                  ADAMW,
                  round -> {
                    store.discardGradients();
                    store.accumulateGradients(
                        0, rowSets[3 * round + 2], s, keyGradView, valueGradView);
                  },
                  () -> store.applyAdamW(1e-3f, 0.9f, 0.999f, 1e-8f, 0f)));
      Map<String, Sample> t = Harness.time(shape.warmup(), shape.repetitions(), cases);
      return new Result(
          shape,
          Parallel.threads(),
          JniUtils.getNumThreads(),
          t.get(SCORING),
          t.get(KEY_READ),
          t.get(SCORING_CACHED),
          t.get(RETRIEVAL),
          t.get(MATMUL),
          t.get(GATHER),
          t.get(SCATTER),
          t.get(ADAMW),
          t.get(COPY));
    }
  }

  /** Copies every expert's keys once, expert by expert in blocks, over the fork-join threads. */
  private static void readKeys(HostStore store, KernelShape shape) {
    int perExpert = shape.rowsPerExpert();
    Parallel.forRanges(
        shape.experts(),
        1,
        (from, to) -> {
          float[] block = new float[KEY_BLOCK * shape.dim()];
          for (int e = from; e < to; e++) {
            int end = Math.min(shape.rows(), (e + 1) * perExpert);
            for (int row = e * perExpert; row < end; row += KEY_BLOCK) {
              store.readKeyRows(0, row, Math.min(KEY_BLOCK, end - row), block, 0);
            }
          }
        });
  }

  private static ByteBuffer view(ArrowBuf buffer, long bytes) {
    return buffer.nioBuffer(0, (int) bytes).order(ByteOrder.nativeOrder());
  }

  private static void fill(SplittableRandom random, ArrowBuf buffer, int floats) {
    FloatBuffer view = view(buffer, (long) floats * Float.BYTES).asFloatBuffer();
    for (int i = 0; i < floats; i++) {
      view.put(i, (float) random.nextGaussian() * 1e-3f);
    }
  }

  private static float[] gaussian(SplittableRandom random, int n) {
    float[] out = new float[n];
    for (int i = 0; i < n; i++) {
      out[i] = (float) random.nextGaussian();
    }
    return out;
  }

  /** Each token probes P distinct experts with positive weights summing to 1, like a softmax. */
  private static void probes(
      SplittableRandom random, int tokens, int p, int experts, int[] ids, float[] weights) {
    for (int t = 0; t < tokens; t++) {
      int[] chosen = sortedDistinct(random, experts, p);
      float sum = 0;
      for (int q = 0; q < p; q++) {
        ids[t * p + q] = chosen[q];
        weights[t * p + q] = 0.5f + random.nextFloat();
        sum += weights[t * p + q];
      }
      for (int q = 0; q < p; q++) {
        weights[t * p + q] /= sum;
      }
    }
  }

  /** {@code count} distinct ints of [0, n), ascending (a partial Fisher-Yates shuffle). */
  private static int[] sortedDistinct(SplittableRandom random, int n, int count) {
    int[] all = new int[n];
    for (int i = 0; i < n; i++) {
      all[i] = i;
    }
    for (int i = 0; i < count; i++) {
      int j = i + random.nextInt(n - i);
      int swap = all[i];
      all[i] = all[j];
      all[j] = swap;
    }
    int[] out = Arrays.copyOf(all, count);
    Arrays.sort(out);
    return out;
  }
}
