package org.meft.adapter.meft;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
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
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.meft.adapter.ActiveTokens;
import org.meft.adapter.AdapterMeters;
import org.meft.adapter.DeviceBytes;
import org.meft.model.FfnAdapter;
import org.meft.model.LayerPass;
import org.meft.model.Precision;
import org.meft.model.Scalar;
import org.meft.retrieval.KeyRetrieval;
import org.meft.store.HostStore;

/**
 * The MEFT sparse adapter of one layer (docs/architecture.md, "The method"). K, V [N, D] stay in
 * the host store; {@link #forward} runs the method's steps, each a method below:
 *
 * <pre>
 *   1. route (device):    g = h G^T [M, E]; each token keeps its top-P experts, weights w = softmax
 *                         over those P logits
 *   2. retrieve (host):   s_i = w_e(i) * (h . k_i) over the probed experts' rows; top-K per token;
 *                         the tokens in groups, S = the union of a group's rows, at most maxRows
 *   3. gather:            K_S, V_S [S, D] host -> device, one group at a time
 *   4. compute (device):  o[t, i] = (h_t . k_j) c[t, i] for token t's i-th row j, c its expert's w
 *                         A(h) = ReLU(o) V_S, o scattered to [M, S] (zero where t did not choose j);
 *                         {@link #meftAdapter}, the formula on its own
 *   5. scatter (backward): {@link #collectGradients()} sends the gradients of K_S, V_S to the
 *                         store, whose sparse AdamW updates exactly those rows
 * </pre>
 *
 * Steps 3 and 4 run per group of tokens. In training ({@link TrainRows#ALL}) the groups are
 * consecutive tokens whose union of rows fits maxRows ({@link TokenGroups}), so every token trains
 * with all of its K rows; each group's K_S, V_S stay on the device until backward, so a layer's
 * pass holds the rows of all of its groups, while each gather and transfer moves at most maxRows
 * rows through the [maxRows + 1, D] staging buffers. A row chosen in two groups is brought twice
 * and gets two gradients, which the store adds up before the row's one AdamW step. With {@link
 * TrainRows#CAPPED} a pass is one group whose union is capped at maxRows by best score. Inference
 * takes groups of maxRows / K tokens ({@link #adaptEachTokenExactly}).
 *
 * <p>The meters (bytes across the bus, device bytes held) are counted in one place, the {@code
 * meter*} methods, not in the math.
 *
 * <p>With activation recomputation ({@link LayerPass}) the layer runs twice per micro-batch: the
 * first forward, without gradient, routes, retrieves and gathers, and records its choices (each
 * group's S and its tokens' columns, on the host); the recomputation routes again on the device
 * (the router needs its graph; the same values give the same top-P) and replays every group's
 * recorded choices, gathering each group's K_S, V_S from the store again unless the transfer
 * buffers still hold them (only this adapter writes them, and the store does not change before the
 * step's update). Only the recomputation leaves gradients pending, and the rows are counted once in
 * the row meters. With E = P = 1 and K = maxRows = N this is the dense parallel adapter: w = 1 and
 * every token uses every row.
 */
public final class MeftAdapter extends AbstractBlock implements FfnAdapter, AutoCloseable {
  /**
   * In inference, the host retrieves for up to this many tokens in one call (its copy of their
   * hidden states is this many rows of D floats: 64 MiB at D = 4,096), and fewer when their
   * candidate scores (tokens x P x R floats) would pass {@link #RETRIEVAL_CANDIDATES}.
   */
  static final int RETRIEVAL_TOKENS = 4096;

  /** Candidate scores of one inference retrieval call, at most: 128 MiB of floats. */
  static final int RETRIEVAL_CANDIDATES = 1 << 25;

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
  private List<Choices> recorded; // the groups of the last RECORD forward, until its REPLAY
  private Choices buffered; // the group whose K_S, V_S the transfer buffers hold
  private Consumer<float[]> tokenObserver; // see observeTokens

  /** K_S (null when the keys do not train), V_S of one group, waiting for their gradients. */
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
    meters.resident(residentBytes(config.experts(), dim));
    long bytes = transferBufferBytes(config.maxRows(), dim);
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

  /**
   * While {@code observer} is not null, every forward hands it its tokens' h [M, D] (float32,
   * row-major, pads left out) before adapting them.
   */
  void observeTokens(Consumer<float[]> observer) {
    tokenObserver = observer;
  }

  /** The router starts again from the store's keys (after they were replaced). */
  void resetRouter() {
    NDArray weights = router.getArray();
    try (NDArray sums = weights.getManager().create(expertKeySums(), weights.getShape())) {
      weights.set(new NDIndex(":"), sums);
    }
  }

  public MeftConfig config() {
    return config;
  }

  @Override
  public NDArray forward(LayerPass pass, NDArray n) {
    NDArray all = Precision.atLeastFloat32(n).reshape(-1, dim); // [B*T, D], float32 over any base
    NDArray h = activeTokens.select(all); // [M, D]
    if (tokenObserver != null) {
      tokenObserver.accept(h.toType(DataType.FLOAT32, false).toFloatArray());
    }
    NDArray a = pass.training() ? adaptInGroups(pass, h) : adaptEachTokenExactly(pass.ps(), h);
    // Added to the residual stream in its type.
    return Precision.cast(activeTokens.expand(a, all).reshape(n.getShape()), n.getDataType());
  }

  /**
   * Inference: each token gets exactly its own top-K rows, whatever else is in the pass. The cap on
   * S would otherwise let the other tokens of the pass (a batch's other sequences, its pads, a
   * longer prompt) take a token's rows, so that batched and one-at-a-time decoding differ: the
   * tokens go to the device in groups of maxRows / K, whose union always fits. Each group is routed
   * on its own (the router's product sees groups of one size whichever pass they come from), but
   * the host scores up to {@link #RETRIEVAL_TOKENS} tokens in one call: a token's top K does not
   * depend on the others, and one call keeps the scorer's kernels full (a group of 32 tokens gives
   * an expert about 4 of them; measured on evaluation's prefill: docs/results/performance.md).
   */
  private NDArray adaptEachTokenExactly(ParameterStore ps, NDArray h) {
    long m = h.getShape().get(0);
    int group = config.maxRows() / config.topK();
    if (m <= group) {
      Route route = timed(AdapterMeters.ROUTE, () -> route(ps, h, false, true));
      Retrieval retrieval = timed(AdapterMeters.RETRIEVE, () -> select(0, retrieve(route)));
      return adaptRetrieved(h, route, retrieval);
    }
    long perToken = (long) config.probes() * config.rowsPerExpert();
    long tokensPerCall = Math.min(RETRIEVAL_TOKENS, RETRIEVAL_CANDIDATES / perToken);
    int groupsPerCall = (int) Math.max(1, tokensPerCall / group);
    NDList parts = new NDList();
    for (long first = 0; first < m; first += (long) group * groupsPerCall) {
      List<NDArray> slices = new ArrayList<>();
      List<Route> routes = new ArrayList<>();
      for (long start = first; start < Math.min(m, first + (long) group * groupsPerCall); ) {
        long end = Math.min(start + group, m);
        NDArray slice = h.get(start + ":" + end);
        slices.add(slice);
        routes.add(timed(AdapterMeters.ROUTE, () -> route(ps, slice, false, true)));
        start = end;
      }
      KeyRetrieval.Result chosen = timed(AdapterMeters.RETRIEVE, () -> topK(routes));
      int at = 0;
      for (int i = 0; i < routes.size(); i++) {
        Route route = routes.get(i);
        KeyRetrieval.Result own = chosen.tokens(at, at + route.tokens());
        at += route.tokens();
        Retrieval retrieval = timed(AdapterMeters.RETRIEVE, () -> select(0, own));
        parts.add(adaptRetrieved(slices.get(i), route, retrieval));
      }
    }
    return parts.size() == 1 ? parts.head() : NDArrays.concat(parts, 0);
  }

  /** Step 2's top K for the tokens of several routes, in one call. */
  private KeyRetrieval.Result topK(List<Route> routes) {
    int m = routes.stream().mapToInt(Route::tokens).sum();
    int p = config.probes();
    float[] h = new float[m * dim];
    int[] experts = new int[m * p];
    float[] expertWeights = new float[m * p];
    int at = 0;
    for (Route route : routes) {
      System.arraycopy(route.h(), 0, h, at * dim, route.tokens() * dim);
      System.arraycopy(route.experts(), 0, experts, at * p, route.tokens() * p);
      System.arraycopy(route.expertWeights(), 0, expertWeights, at * p, route.tokens() * p);
      at += route.tokens();
    }
    return KeyRetrieval.topK(
        store, storeLayer, h, m, experts, expertWeights, p, config.experts(), config.topK());
  }

  /**
   * Training, h [M, D] -> A(h) [M, D] float32: route the M tokens, retrieve their top K, then the
   * device part group by group ({@link TrainRows}), the groups' outputs joined in token order. A
   * replay takes the groups its first forward recorded.
   */
  private NDArray adaptInGroups(LayerPass pass, NDArray h) {
    LayerPass.Kind kind = pass.kind();
    boolean replay = kind == LayerPass.Kind.REPLAY;
    Route route = timed(AdapterMeters.ROUTE, () -> route(pass.ps(), h, true, !replay));
    List<Choices> groups = replay ? takeRecorded(route.tokens()) : choose(route);
    if (kind == LayerPass.Kind.RECORD) {
      recorded = groups;
    }
    boolean keepGradients = kind != LayerPass.Kind.RECORD;
    if (groups.size() == 1) {
      return adaptGroup(h, route.weights(), groups.get(0), keepGradients);
    }
    NDList parts = new NDList();
    for (Choices group : groups) {
      String tokens = group.start() + ":" + (group.start() + group.tokens());
      parts.add(adaptGroup(h.get(tokens), route.weights().get(tokens), group, keepGradients));
    }
    meters.pass(joinedBytes(route.tokens(), dim));
    return NDArrays.concat(parts, 0);
  }

  /**
   * Steps 2 and 3 on the host for a training pass: each token's top K, the groups with their S, and
   * each group's choices; meters the choices and rows of the whole pass.
   */
  private List<Choices> choose(Route route) {
    meterRoute(route.tokens());
    PassRetrieval pass = timed(AdapterMeters.RETRIEVE, () -> retrieveGroups(route));
    List<Choices> groups = new ArrayList<>();
    long made = 0;
    long kept = 0;
    int rows = 0;
    for (Retrieval retrieval : pass.groups()) {
      groups.add(timed(AdapterMeters.GATHER, () -> choices(route, retrieval)));
      made += retrieval.selection().made();
      kept += retrieval.selection().kept();
      rows += retrieval.selection().count();
    }
    meters.rows(rows);
    meters.choices(made, kept, pass.distinct());
    meters.probes(route.experts(), config.experts());
    return groups;
  }

  /**
   * Step 2 for a training pass: the tokens' top K, then S of each group: the tokens in groups whose
   * union fits maxRows ({@link TokenGroups}), or one group capped at maxRows.
   */
  private PassRetrieval retrieveGroups(Route route) {
    KeyRetrieval.Result chosen = retrieve(route);
    if (config.trainRows() == TrainRows.CAPPED) {
      Retrieval all = select(0, chosen);
      return new PassRetrieval(List.of(all), all.selection().distinct());
    }
    TokenGroups groups =
        TokenGroups.of(chosen.rows(), chosen.k(), config.adapterSize(), config.maxRows());
    List<Retrieval> retrievals = new ArrayList<>();
    for (int g = 0; g < groups.count(); g++) {
      KeyRetrieval.Result own =
          groups.count() == 1 ? chosen : chosen.tokens(groups.start(g), groups.end(g));
      retrievals.add(select(groups.start(g), own));
    }
    return new PassRetrieval(retrievals, groups.distinct());
  }

  /**
   * Step 2's result for a training pass: its groups, and the distinct rows all its tokens chose.
   */
  private record PassRetrieval(List<Retrieval> groups, int distinct) {}

  /** Inference: steps 3 and 4 for tokens h [M, D] routed and retrieved together, one group. */
  private NDArray adaptRetrieved(NDArray h, Route route, Retrieval retrieval) {
    meterRoute(route.tokens());
    Choices choices = timed(AdapterMeters.GATHER, () -> choices(route, retrieval));
    meters.rows(choices.count());
    RowSelection selection = retrieval.selection();
    meters.choices(selection.made(), selection.kept(), selection.distinct());
    meters.probes(route.experts(), config.experts());
    return adaptGroup(h, route.weights(), choices, false);
  }

  /**
   * Steps 3 (across the bus) and 4 for one group: its tokens h [m, D] and their router weights w
   * [m, P] -> A(h) [m, D]. With {@code keepGradients} its K_S, V_S wait for their gradients.
   */
  private NDArray adaptGroup(NDArray h, NDArray weights, Choices choices, boolean keepGradients) {
    Rows rows =
        timed(AdapterMeters.GATHER, () -> toDevice(h.getManager(), h.getDataType(), choices));
    meterDevice(choices.tokens(), rows.count());
    if (keepGradients) {
      boolean trainKeys = store.format().trainKeys();
      if (trainKeys) {
        rows.keys().setRequiresGradient(true);
      }
      rows.values().setRequiresGradient(true);
      pending.add(
          new Pending(rows.ids(), rows.count(), trainKeys ? rows.keys() : null, rows.values()));
    }
    NDArray c = choiceWeights(weights, rows.slots()); // [m, K]
    return meftAdapter(h, rows.keys(), rows.values(), rows.flat(), rows.columns(), c);
  }

  /**
   * Step 1's result: each token's P probed experts and their weights w (on the device for the
   * adapter's output, on the host for retrieval), and h on the host.
   *
   * @param tokens M
   * @param weights w [M, P] on the device
   * @param experts the probed experts [M, P]
   * @param expertWeights w [M, P] on the host
   * @param h the tokens [M, D] on the host, row-major
   */
  private record Route(
      int tokens, NDArray weights, int[] experts, float[] expertWeights, float[] h) {}

  /**
   * Step 1, the Key-Experts router: g = h G^T [M, E], each token's top-P experts and weights; on
   * the device only (experts, expertWeights and h null) unless {@code toHost}.
   */
  private Route route(ParameterStore ps, NDArray h, boolean training, boolean toHost) {
    int m = (int) h.getShape().get(0);
    int p = config.probes();
    NDArray logits =
        Linear.linear(h, ps.getValue(router, h.getDevice(), training)).head(); // [M, E]
    NDList top = logits.topK(p, -1, true, true);
    // w = P softmax(top-P logits): the weights average 1 over the probes, so the adapter's output
    // scale does not shrink as P grows (with P = 1, w = 1: the dense adapter).
    NDArray weights = top.get(0).softmax(-1).mul(Scalar.of(h, p)); // [M, P]
    if (!toHost) {
      return new Route(m, weights, null, null, null);
    }
    int[] experts = top.get(1).toType(DataType.INT32, false).toIntArray();
    float[] expertWeights = weights.toType(DataType.FLOAT32, false).toFloatArray();
    float[] hostH = h.toType(DataType.FLOAT32, false).toFloatArray();
    return new Route(m, weights, experts, expertWeights, hostH);
  }

  /**
   * Step 2's result for one group: its tokens' top-K rows, and S, the rows that go to the device.
   *
   * @param start the group's first token in its pass (its route)
   * @param chosen the group's tokens' top K
   * @param selection S
   */
  private record Retrieval(int start, KeyRetrieval.Result chosen, RowSelection selection) {}

  /**
   * Step 2, on the host: each token scores only its probed experts' keys, s_i = w_e(i) (h . k_i),
   * and keeps its top K.
   */
  private KeyRetrieval.Result retrieve(Route route) {
    return KeyRetrieval.topK(
        store,
        storeLayer,
        route.h(),
        route.tokens(),
        route.experts(),
        route.expertWeights(),
        config.probes(),
        config.experts(),
        config.topK());
  }

  /**
   * S for a group of tokens from {@code start} in its pass: their rows' union, capped at maxRows by
   * best score (a cap only {@link TrainRows#CAPPED} reaches: the other groups' unions fit).
   */
  private Retrieval select(int start, KeyRetrieval.Result chosen) {
    RowSelection selection =
        RowSelection.of(chosen.rows(), chosen.scores(), config.adapterSize(), config.maxRows());
    return new Retrieval(start, chosen, selection);
  }

  /**
   * Step 3's result on the host for one group: S, and each of its tokens' choices as three [m, K]
   * arrays (see {@link Rows}).
   *
   * @param ids the store rows of S, ascending
   * @param count S
   * @param start the group's first token in its pass
   * @param tokens m, the group's tokens
   * @param choices flat, columns, slots, each [m*K]
   */
  private record Choices(int[] ids, int count, int start, int tokens, long[][] choices) {}

  /**
   * Step 3's result, on the device: K_S, V_S and each token's choices.
   *
   * @param ids the store rows of S, ascending
   * @param count S
   * @param keys K_S [S+1, D], row S zero: the column of every choice the cap removed
   * @param values V_S [S+1, D], row S zero
   * @param flat the chosen entries of h K_S^T [M*K]: t*(S+1) + j, j = S when capped out
   * @param columns their columns j [M, K]
   * @param slots the probe of j's expert among t's P probes [M, K], P when capped out
   */
  private record Rows(
      int[] ids,
      int count,
      NDArray keys,
      NDArray values,
      NDArray flat,
      NDArray columns,
      NDArray slots) {}

  /** Step 3, on the host: each token's choices in a group ({@code retrieval}) of {@code route}. */
  private Choices choices(Route route, Retrieval retrieval) {
    RowSelection selection = retrieval.selection();
    int m = retrieval.chosen().rows().length / retrieval.chosen().k();
    long[][] choices =
        choices(selection, retrieval.chosen(), route.experts(), retrieval.start(), m);
    return new Choices(selection.rows(), selection.count(), retrieval.start(), m, choices);
  }

  /** Step 3, on the host: gathers a group's K_S, V_S from the store into the transfer buffers. */
  private void gather(Choices choices) {
    int s = choices.count();
    long bytes = (long) (s + 1) * dim * Float.BYTES;
    ByteBuffer keysOut = keysTransfer.nioBuffer(0, (int) bytes).order(ByteOrder.nativeOrder());
    ByteBuffer valuesOut = valuesTransfer.nioBuffer(0, (int) bytes).order(ByteOrder.nativeOrder());
    store.gather(storeLayer, choices.ids(), s, keysOut, valuesOut);
    keysTransfer.setZero((long) s * dim * Float.BYTES, (long) dim * Float.BYTES);
    valuesTransfer.setZero((long) s * dim * Float.BYTES, (long) dim * Float.BYTES);
    buffered = choices;
  }

  /**
   * Step 3, across the bus: K_S, V_S (gathered into the transfer buffers unless they hold this
   * group's already) and the choices to the device.
   */
  private Rows toDevice(NDManager manager, DataType type, Choices choices) {
    if (buffered != choices) {
      gather(choices);
    }
    int s = choices.count();
    int m = choices.tokens();
    int k = config.topK();
    long bytes = (long) (s + 1) * dim * Float.BYTES;
    ByteBuffer keysIn = keysTransfer.nioBuffer(0, (int) bytes).order(ByteOrder.nativeOrder());
    ByteBuffer valuesIn = valuesTransfer.nioBuffer(0, (int) bytes).order(ByteOrder.nativeOrder());
    // Copies: the arrays must own their memory, the transfer buffers are reused next pass.
    // In h's type (float32, or the float64 of gradient checks).
    NDArray keysS = rowsIn(manager, keysIn, s + 1, type);
    NDArray valuesS = rowsIn(manager, valuesIn, s + 1, type);
    NDArray flat = manager.create(choices.choices()[0]);
    NDArray columns = manager.create(choices.choices()[1], new Shape(m, k));
    NDArray slots = manager.create(choices.choices()[2], new Shape(m, k));
    return new Rows(choices.ids(), s, keysS, valuesS, flat, columns, slots);
  }

  /** Rows [count, D] from a float32 transfer buffer, as a new array of {@code type}. */
  private NDArray rowsIn(NDManager manager, ByteBuffer buffer, int count, DataType type) {
    NDArray rows = manager.create(buffer, new Shape(count, dim), DataType.FLOAT32);
    return type == DataType.FLOAT32 ? rows.duplicate() : rows.toType(type, true);
  }

  /** The groups the last RECORD forward left for this replay of {@code m} tokens. */
  private List<Choices> takeRecorded(int m) {
    List<Choices> groups = recorded;
    recorded = null;
    int tokens = groups == null ? 0 : groups.stream().mapToInt(Choices::tokens).sum();
    if (groups == null || tokens != m) {
      throw new IllegalStateException(
          "a recomputed meft layer must replay its first forward's choices: "
              + (groups == null
                  ? "none were recorded"
                  : "they cover " + tokens + " tokens, the replay " + m));
    }
    return groups;
  }

  /**
   * For each token t of a group and its i-th choice: the choice's column j in S (S when the cap
   * removed its row), and which of t's P probes is the expert of that row (P, a zero weight, when
   * removed); the group's tokens start at token {@code start} of {@code probeExperts} [M, P].
   */
  private long[][] choices(
      RowSelection selection, KeyRetrieval.Result chosen, int[] probeExperts, int start, int m) {
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
          if (probeExperts[(start + t) * p + q] == expert) {
            slots[t * k + i] = q;
            break;
          }
        }
      }
    }
    return new long[][] {flat, columns, slots};
  }

  /**
   * c[t, i] = w[t, slot[t, i]], the router weight of the expert of token t's i-th row; 0 where the
   * slot is P (the cap removed the row). weights [M, P], slots [M, K] -> c [M, K].
   */
  private static NDArray choiceWeights(NDArray weights, NDArray slots) {
    long m = weights.getShape().get(0);
    NDArray padded =
        weights.concat(weights.getManager().zeros(new Shape(m, 1), weights.getDataType()), 1);
    return padded.gather(slots, 1);
  }

  /**
   * Step 4, the adapter on its gathered rows: {@code A(h) = ReLU(o) V_S}, with {@code o[t, j] = (h
   * K_S^T)[t, j] c[t, i]} at token t's i-th chosen column j and zero at the columns t did not
   * choose. Only the M K chosen entries of h K_S^T are read; the rest of the product is freed at
   * once.
   *
   * @param h the tokens [M, D]
   * @param keysS K_S [S+1, D] (row S zero: the column of every choice the row cap removed)
   * @param valuesS V_S [S+1, D]
   * @param flat the chosen entries of h K_S^T, flattened: t (S+1) + j [M*K]
   * @param columns their columns j [M, K]
   * @param c the router weight of each choice's expert [M, K] (0 for a removed choice)
   * @return A(h) [M, D]
   */
  public static NDArray meftAdapter(
      NDArray h, NDArray keysS, NDArray valuesS, NDArray flat, NDArray columns, NDArray c) {
    long m = h.getShape().get(0);
    long k = columns.getShape().get(1);
    NDArray dots; // [M, K] h_t . k_j for token t's chosen rows j
    // h K_S^T [M, S+1] lives only until the chosen entries are read out of it (indexing keeps its
    // shape for backward, not its values).
    try (NDArray scores = Linear.linear(h, keysS).head(); // [M, S+1]
        NDArray scoresFlat = scores.reshape(-1)) {
      dots = scoresFlat.get(new NDIndex("{}", flat)).reshape(m, k);
    }
    NDArray o = dots.mul(c); // [M, K]
    NDArray a; // [M, S+1]: ReLU(o) at each token's chosen columns, zero elsewhere
    try (NDArray zeros =
        h.getManager().zeros(new Shape(m, keysS.getShape().get(0)), h.getDataType())) {
      a = zeros.scatter(columns, Activation.relu(o), 1);
    }
    return a.matMul(valuesS);
  }

  /** After a backward pass: adds the gradients of every pending K_S, V_S into the host store. */
  public void collectGradients() {
    long start = System.nanoTime();
    for (Pending step : pending) {
      ByteBuffer keyGrads = step.keys() == null ? null : hostGradient(step.keys());
      ByteBuffer valueGrads = hostGradient(step.values());
      store.accumulateGradients(storeLayer, step.rows(), step.count(), keyGrads, valueGrads);
      meterScatter(step.count());
    }
    pending.clear();
    meters.time(AdapterMeters.SCATTER, System.nanoTime() - start);
  }

  /** rows' gradient as the store's float32 bytes. */
  private static ByteBuffer hostGradient(NDArray rows) {
    NDArray gradient = rows.getGradient();
    return gradient.getDataType() == DataType.FLOAT32
        ? gradient.toByteBuffer()
        : gradient.toType(DataType.FLOAT32, false).toByteBuffer();
  }

  /** Forgets pending gradients (a skipped step) and recorded choices. */
  public void discardPending() {
    pending.clear();
    recorded = null;
  }

  /** Times one step of the method into the phase {@code phase}. */
  private <T> T timed(String phase, Supplier<T> step) {
    long start = System.nanoTime();
    T result = step.get();
    meters.time(phase, System.nanoTime() - start);
    return result;
  }

  /** The route's bus bytes over M tokens: h [M, D], each token's P experts and weights. */
  private void meterRoute(int m) {
    meters.deviceToHost(routeBusBytes(m, config.probes(), dim));
  }

  /**
   * The meters of the device part of one forward over M tokens and S rows: K_S, V_S and the [M, K]
   * choice arrays across the bus, and the device bytes the pass holds.
   */
  private void meterDevice(int m, int s) {
    meters.hostToDevice(gatherBusBytes(m, s, config.topK(), dim));
    meters.pass(passBytes(m, s, config.topK(), dim, store.format().trainKeys()));
    meters.transientBytes(transientBytes(m, s));
  }

  /** The meters of step 5: the gradients of K_S, V_S [S, D] go to the host. */
  private void meterScatter(int s) {
    meters.deviceToHost(scatterBusBytes(s, dim, store.format().trainKeys()));
  }

  // ------------------------------------------------------------------------------- accounting
  // What one layer's adapter holds and moves, as functions of its shape: the meters above and the
  // memory planner (org.meft.plan) both call them.

  /** The router G [E, D] and its gradient; its AdamW moments live in host memory. */
  public static DeviceBytes residentBytes(int experts, int dim) {
    long router = (long) experts * dim * Float.BYTES;
    return new DeviceBytes(router, 0, 0, router, 0);
  }

  /**
   * Held from one layer's forward until backward, over M tokens and S rows: K_S, V_S [S+1, D] (with
   * the zero row) and the gradients of V_S, and of K_S when the keys train; the dense ReLU(o) [M,
   * S+1] (kept by the last product); the [M, K] choices (three int64 arrays), weights and
   * activations (four float32); A(h) [M, D].
   */
  public static DeviceBytes passBytes(long m, int s, int k, int dim, boolean trainKeys) {
    long rows = 2 * rowBytes(s, dim);
    long activations =
        denseBytes(m, s) + m * k * (3L * Long.BYTES + 4L * Float.BYTES) + m * dim * Float.BYTES;
    return new DeviceBytes(0, rows, activations, (trainKeys ? 2 : 1) * rowBytes(s, dim), 0);
  }

  /**
   * What one layer's pass holds on the device until backward, and the most a short-lived buffer
   * adds on top of it at any moment of the pass.
   */
  record LayerBytes(DeviceBytes held, long transientBytes) {}

  /**
   * {@link LayerBytes} of a pass of {@code groups}, in the order they run, as the meters count it:
   * each group's {@link #passBytes} and, for a moment, its {@link #transientBytes}; then, with more
   * than one group, their joined output ({@link #joinedBytes}).
   */
  static LayerBytes layerBytes(List<TokenGroups.Shape> groups, int k, int dim, boolean trainKeys) {
    DeviceBytes held = DeviceBytes.NONE;
    long peak = 0;
    long tokens = 0;
    long count = 0;
    for (TokenGroups.Shape group : groups) {
      // Each group of a run of equal ones holds more than its h K_S^T: the run peaks at its last.
      held =
          held.plus(
              passBytes(group.tokens(), group.rows(), k, dim, trainKeys).times(group.count()));
      peak = Math.max(peak, held.total() + transientBytes(group.tokens(), group.rows()));
      tokens += group.count() * group.tokens();
      count += group.count();
    }
    if (count > 1) {
      held = held.plus(joinedBytes(tokens, dim));
    }
    return new LayerBytes(held, Math.max(0, peak - held.total()));
  }

  /** A pass of more than one group joins their outputs: A(h) [M, D] once more. */
  public static DeviceBytes joinedBytes(long m, int dim) {
    return new DeviceBytes(0, 0, m * dim * Float.BYTES, 0, 0);
  }

  /** h K_S^T [M, S+1], alive only until the chosen entries are read out, on top of what is held. */
  public static long transientBytes(long m, int s) {
    return denseBytes(m, s);
  }

  /** Step 1 to the host: h [M, D], each token's P experts (int32) and weights (float32). */
  public static long routeBusBytes(long m, int p, int dim) {
    return m * dim * Float.BYTES + m * p * (Integer.BYTES + Float.BYTES);
  }

  /** Step 3 to the device: K_S, V_S [S+1, D] and the three [M, K] int64 choice arrays. */
  public static long gatherBusBytes(long m, int s, int k, int dim) {
    return 2 * rowBytes(s, dim) + 3L * m * k * Long.BYTES;
  }

  /** Step 5 to the host: the gradients of V_S [S, D], and of K_S when the keys train. */
  public static long scatterBusBytes(int s, int dim, boolean trainKeys) {
    return (trainKeys ? 2L : 1L) * s * dim * Float.BYTES;
  }

  /** One of the two host staging buffers a layer gathers into: [maxRows + 1, D] float32. */
  public static long transferBufferBytes(int maxRows, int dim) {
    return (long) (maxRows + 1) * dim * Float.BYTES;
  }

  private static long rowBytes(int s, int dim) {
    return (long) (s + 1) * dim * Float.BYTES;
  }

  private static long denseBytes(long m, int s) {
    return m * (s + 1) * Float.BYTES;
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
    recorded = null;
    buffered = null;
    keysTransfer.close();
    valuesTransfer.close();
  }
}
