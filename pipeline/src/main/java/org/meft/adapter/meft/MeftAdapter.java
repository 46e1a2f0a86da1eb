package org.meft.adapter.meft;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.meft.adapter.ActiveTokens;
import org.meft.adapter.AdapterMeters;
import org.meft.model.FfnAdapter;
import org.meft.model.Scalar;
import org.meft.retrieval.KeyRetrieval;
import org.meft.store.HostStore;

/**
 * The MEFT sparse adapter of one layer (DESIGN.md, "The method"). K, V [N, D] stay in the host
 * store; per forward pass:
 *
 * <pre>
 *   1. route (device):   g = h G^T [M, E]; each token keeps its top-P experts, weights w = softmax
 *                        over those P logits
 *   2. retrieve (host):  s_i = w_e(i) * (h . k_i) over the probed experts' rows; top-K per token
 *   3. select (host):    S = union of the tokens' rows, capped at maxRows by best score
 *   4. gather:           K_S, V_S [S, D] host -> device
 *   5. compute (device): o[t, i] = (h_t . k_j) c[t, i] for token t's i-th row j, c its expert's w
 *                        A(h) = ReLU(o) V_S, o scattered to [M, S] (zero where t did not choose j)
 * </pre>
 *
 * After backward, {@link #collectGradients()} sends the gradients of K_S, V_S to the store, whose
 * sparse AdamW updates exactly those rows. With E = P = 1 and K = maxRows = N this is the dense
 * parallel adapter: w = 1 and every token uses every row.
 */
public final class MeftAdapter extends AbstractBlock implements FfnAdapter, AutoCloseable {
  final Parameter router; // G [E, D]
  private final MeftConfig config;
  private final HostStore store;
  private final int storeLayer;
  private final int dim;
  private final AdapterMeters meters;
  private final ActiveTokens activeTokens;
  private final ArrowBuf keysTransfer; // [maxRows + 1, D] float32
  private final ArrowBuf valuesTransfer; // [maxRows + 1, D] float32
  private final List<Pending> pending = new ArrayList<>();

  /** K_S, V_S of one forward pass, waiting for their gradients. */
  private record Pending(int[] rows, int count, NDArray keys, NDArray values) {}

  public MeftAdapter(
      MeftConfig config,
      HostStore store,
      int storeLayer,
      NDManager manager,
      BufferAllocator allocator,
      AdapterMeters meters,
      ActiveTokens activeTokens) {
    this.config = config;
    this.store = store;
    this.storeLayer = storeLayer;
    this.dim = store.dim();
    this.meters = meters;
    this.activeTokens = activeTokens;
    router =
        addParameter(Parameter.builder().setName("router").setType(Parameter.Type.WEIGHT).build());
    router.setArray(manager.create(expertKeySums(), new Shape(config.experts(), dim)));
    router.freeze(false);
    // G and its gradient; the AdamW moments live in host memory (InstalledAdapters).
    meters.resident(2L * Float.BYTES * config.experts() * dim);
    long bytes = (long) (config.maxRows() + 1) * dim * Float.BYTES;
    keysTransfer = allocator.buffer(bytes);
    keysTransfer.setZero(0, keysTransfer.capacity());
    try {
      valuesTransfer = allocator.buffer(bytes);
      valuesTransfer.setZero(0, valuesTransfer.capacity());
    } catch (RuntimeException e) {
      keysTransfer.close();
      throw e;
    }
  }

  /**
   * The router starts as each expert's sum of initial keys, so that h . G_e = sum of h . k_i over
   * the expert's rows: it first probes the experts whose keys agree most with h.
   */
  private float[] expertKeySums() {
    int perExpert = config.rowsPerExpert();
    float[] sums = new float[config.experts() * dim];
    for (int row = 0; row < config.adapterSize(); row++) {
      float[] key = store.keyRow(storeLayer, row);
      int offset = (row / perExpert) * dim;
      for (int i = 0; i < dim; i++) {
        sums[offset + i] += key[i];
      }
    }
    return sums;
  }

  public Parameter router() {
    return router;
  }

  public MeftConfig config() {
    return config;
  }

  @Override
  public NDArray forward(ParameterStore ps, NDArray n, boolean training) {
    NDManager manager = n.getManager();
    NDArray all = n.reshape(-1, dim); // [B*T, D]
    NDArray h = activeTokens.select(all); // [M, D]
    int m = (int) h.getShape().get(0);
    int p = config.probes();
    int k = config.topK();

    long start = System.nanoTime();
    NDArray logits =
        Linear.linear(h, ps.getValue(router, n.getDevice(), training)).head(); // [M, E]
    NDList top = logits.topK(p, -1, true, true);
    // w = P softmax(top-P logits): the weights average 1 over the probes, so the adapter's output
    // scale does not shrink as P grows (with P = 1, w = 1: the dense adapter).
    NDArray weights = top.get(0).softmax(-1).mul(Scalar.of(h, p)); // [M, P]
    int[] probeExperts = top.get(1).toType(DataType.INT32, false).toIntArray();
    float[] probeWeights = weights.toFloatArray();
    float[] hHost = h.toType(DataType.FLOAT32, false).toFloatArray();
    meters.deviceToHost(
        (long) m * dim * Float.BYTES + (long) m * p * (Integer.BYTES + Float.BYTES));
    long routed = System.nanoTime();
    meters.time(AdapterMeters.ROUTE, routed - start);

    KeyRetrieval.Result chosen =
        KeyRetrieval.topK(
            store, storeLayer, hHost, m, probeExperts, probeWeights, p, config.experts(), k);
    RowSelection selection =
        RowSelection.of(chosen.rows(), chosen.scores(), config.adapterSize(), config.maxRows());
    int s = selection.count();
    long retrieved = System.nanoTime();
    meters.time(AdapterMeters.RETRIEVE, retrieved - routed);

    // Rows 0..S-1 are K_S, V_S; row S is zero, the column of every choice the cap removed.
    long bytes = (long) (s + 1) * dim * Float.BYTES;
    ByteBuffer keysOut = keysTransfer.nioBuffer(0, (int) bytes).order(ByteOrder.nativeOrder());
    ByteBuffer valuesOut = valuesTransfer.nioBuffer(0, (int) bytes).order(ByteOrder.nativeOrder());
    store.gather(storeLayer, selection.rows(), s, keysOut, valuesOut);
    keysTransfer.setZero((long) s * dim * Float.BYTES, (long) dim * Float.BYTES);
    valuesTransfer.setZero((long) s * dim * Float.BYTES, (long) dim * Float.BYTES);
    // Copies: the arrays must own their memory, the transfer buffers are reused next pass.
    NDArray keysS = manager.create(keysOut, new Shape(s + 1, dim), DataType.FLOAT32).duplicate();
    NDArray valuesS =
        manager.create(valuesOut, new Shape(s + 1, dim), DataType.FLOAT32).duplicate();
    long[][] choices = choices(selection, chosen, probeExperts, m);
    NDArray flat = manager.create(choices[0]); // [M*K] t*(S+1) + j, j = S when capped out
    NDArray columns = manager.create(choices[1], new Shape(m, k)); // [M, K] j
    NDArray slots = manager.create(choices[2], new Shape(m, k)); // [M, K] probe of j's expert, or P
    meters.hostToDevice(2 * bytes + 3L * m * k * Long.BYTES);
    meters.rows(s);
    meters.time(AdapterMeters.GATHER, System.nanoTime() - retrieved);
    if (training) {
      keysS.setRequiresGradient(true);
      valuesS.setRequiresGradient(true);
      pending.add(new Pending(selection.rows(), s, keysS, valuesS));
    }

    // Held until backward: K_S, V_S and their gradients; the dense ReLU(o) [M, S+1] (kept by the
    // last product); the [M, K] choices, weights and activations; A(h). h K_S^T [M, S+1] lives only
    // until the chosen entries are read out of it (indexing keeps its shape, not its values).
    long denseBytes = (long) m * (s + 1) * Float.BYTES;
    meters.pass(
        4L * bytes
            + denseBytes
            + (long) m * k * (3 * Long.BYTES + 4 * Float.BYTES)
            + (long) m * dim * Float.BYTES);
    meters.transientBytes(denseBytes);
    // c[t, i] = w[t, slot[t, i]], the router weight of the expert of token t's i-th row.
    NDArray padded = weights.concat(manager.zeros(new Shape(m, 1), weights.getDataType()), 1);
    NDArray c = padded.gather(slots, 1); // [M, K]
    NDArray dots; // [M, K] h_t . k_j for token t's chosen rows j
    try (NDArray scores = Linear.linear(h, keysS).head(); // [M, S+1]
        NDArray scoresFlat = scores.reshape(-1)) {
      dots = scoresFlat.get(new NDIndex("{}", flat)).reshape(m, k);
    }
    NDArray o = dots.mul(c); // [M, K]
    NDArray a; // [M, S+1]: ReLU(o) at each token's chosen columns, zero elsewhere
    try (NDArray zeros = manager.zeros(new Shape(m, s + 1))) {
      a = zeros.scatter(columns, Activation.relu(o), 1);
    }
    return activeTokens.expand(a.matMul(valuesS), all).reshape(n.getShape());
  }

  /**
   * For each token t and its i-th choice: the choice's column j in S (S when the cap removed its
   * row), and which of t's P probes is the expert of that row (P, a zero weight, when removed).
   */
  private long[][] choices(
      RowSelection selection, KeyRetrieval.Result chosen, int[] probeExperts, int m) {
    int p = config.probes();
    int k = chosen.k();
    int s = selection.count();
    int perExpert = config.rowsPerExpert();
    long[] flat = new long[m * k];
    long[] columns = new long[m * k];
    long[] slots = new long[m * k];
    for (int t = 0; t < m; t++) {
      for (int i = 0; i < k; i++) {
        int j = selection.localIndex()[t * k + i];
        columns[t * k + i] = j < 0 ? s : j;
        flat[t * k + i] = (long) t * (s + 1) + columns[t * k + i];
        slots[t * k + i] = p;
        if (j < 0) {
          continue;
        }
        int expert = selection.rows()[j] / perExpert;
        for (int q = 0; q < p; q++) {
          if (probeExperts[t * p + q] == expert) {
            slots[t * k + i] = q;
            break;
          }
        }
      }
    }
    return new long[][] {flat, columns, slots};
  }

  /** After a backward pass: adds the gradients of every pending K_S, V_S into the host store. */
  public void collectGradients() {
    long start = System.nanoTime();
    for (Pending step : pending) {
      ByteBuffer keyGrads = step.keys().getGradient().toByteBuffer();
      ByteBuffer valueGrads = step.values().getGradient().toByteBuffer();
      store.accumulateGradients(storeLayer, step.rows(), step.count(), keyGrads, valueGrads);
      meters.deviceToHost(2L * step.count() * dim * Float.BYTES);
    }
    pending.clear();
    meters.time(AdapterMeters.SCATTER, System.nanoTime() - start);
  }

  /** Forgets pending gradients (a skipped step). */
  public void discardPending() {
    pending.clear();
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
    return new NDList(forward(ps, inputs.singletonOrThrow(), training));
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return inputShapes;
  }

  @Override
  public void close() {
    pending.clear();
    keysTransfer.close();
    valuesTransfer.close();
  }
}
