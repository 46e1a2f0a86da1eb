package org.meft.adapter.meft;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
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
import java.util.Arrays;
import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.meft.adapter.AdapterMeters;
import org.meft.adapter.FfnAdapter;
import org.meft.store.HostStore;
import org.meft.store.KeyRetrieval;

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
 *   5. compute (device): o = (h K_S^T) * c, c[t, j] = w of row j's expert if t chose row j, else 0
 *                        A(h) = ReLU(o) V_S
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
  private final ArrowBuf keysTransfer; // [maxRows, D] float32
  private final ArrowBuf valuesTransfer; // [maxRows, D] float32
  private final List<Pending> pending = new ArrayList<>();

  /** K_S, V_S of one forward pass, waiting for their gradients. */
  private record Pending(int[] rows, int count, NDArray keys, NDArray values) {}

  public MeftAdapter(
      MeftConfig config,
      HostStore store,
      int storeLayer,
      NDManager manager,
      BufferAllocator allocator,
      AdapterMeters meters) {
    this.config = config;
    this.store = store;
    this.storeLayer = storeLayer;
    this.dim = store.dim();
    this.meters = meters;
    router =
        addParameter(Parameter.builder().setName("router").setType(Parameter.Type.WEIGHT).build());
    router.setArray(manager.create(expertKeySums(), new Shape(config.experts(), dim)));
    router.freeze(false);
    meters.resident(4L * Float.BYTES * config.experts() * dim); // G, gradient, two moments
    long bytes = (long) config.maxRows() * dim * Float.BYTES;
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
    NDArray h = n.reshape(-1, dim); // [M, D]
    int m = (int) h.getShape().get(0);
    int p = config.probes();
    int k = config.topK();

    long start = System.nanoTime();
    NDArray logits =
        Linear.linear(h, ps.getValue(router, n.getDevice(), training)).head(); // [M, E]
    NDList top = logits.topK(p, -1, true, true);
    NDArray weights = top.get(0).softmax(-1); // [M, P]
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

    long bytes = (long) s * dim * Float.BYTES;
    ByteBuffer keysOut = keysTransfer.nioBuffer(0, (int) bytes).order(ByteOrder.nativeOrder());
    ByteBuffer valuesOut = valuesTransfer.nioBuffer(0, (int) bytes).order(ByteOrder.nativeOrder());
    store.gather(storeLayer, selection.rows(), s, keysOut, valuesOut);
    // Copies: the arrays must own their memory, the transfer buffers are reused next pass.
    NDArray keysS = manager.create(keysOut, new Shape(s, dim), DataType.FLOAT32).duplicate();
    NDArray valuesS = manager.create(valuesOut, new Shape(s, dim), DataType.FLOAT32).duplicate();
    NDArray probeSlot =
        manager.create(probeSlots(selection, chosen, probeExperts, m), new Shape(m, s));
    meters.hostToDevice(2 * bytes + (long) m * s * Long.BYTES);
    meters.rows(s);
    meters.time(AdapterMeters.GATHER, System.nanoTime() - retrieved);
    if (training) {
      keysS.setRequiresGradient(true);
      valuesS.setRequiresGradient(true);
      pending.add(new Pending(selection.rows(), s, keysS, valuesS));
    }

    // K_S, V_S and their gradients; the probe slots; h K_S^T, c, o, ReLU(o); A(h).
    meters.pass(
        Float.BYTES * (4L * s * dim + 4L * m * s + (long) m * dim) + (long) Long.BYTES * m * s);
    // c[t, j] = w[t, slot[t, j]]; slot P is a zero column for rows token t did not choose.
    NDArray padded = weights.concat(manager.zeros(new Shape(m, 1), weights.getDataType()), 1);
    NDArray c = padded.gather(probeSlot, 1); // [M, S]
    NDArray o = Linear.linear(h, keysS).head().mul(c); // [M, S]
    return Activation.relu(o).matMul(valuesS).reshape(n.getShape());
  }

  /**
   * slot[t, j]: which of token t's P probes is the expert of row j, when t chose row j (after the
   * cap); P otherwise.
   */
  private long[] probeSlots(
      RowSelection selection, KeyRetrieval.Result chosen, int[] probeExperts, int m) {
    int p = config.probes();
    int k = chosen.k();
    int s = selection.count();
    int perExpert = config.rowsPerExpert();
    long[] slots = new long[m * s];
    Arrays.fill(slots, p);
    for (int t = 0; t < m; t++) {
      for (int i = 0; i < k; i++) {
        int j = selection.localIndex()[t * k + i];
        if (j < 0) {
          continue;
        }
        int expert = selection.rows()[j] / perExpert;
        for (int q = 0; q < p; q++) {
          if (probeExperts[t * p + q] == expert) {
            slots[t * s + j] = q;
            break;
          }
        }
      }
    }
    return slots;
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
