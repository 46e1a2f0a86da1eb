package org.meft.adapter;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.arrow.memory.BufferAllocator;
import org.meft.adapter.full.FullConfig;
import org.meft.adapter.lora.LoraConfig;
import org.meft.adapter.lora.LoraInjection;
import org.meft.adapter.meft.MeftAdapter;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.parallel.ParallelAdapter;
import org.meft.adapter.parallel.ParallelConfig;
import org.meft.model.DecoderLayer;
import org.meft.model.Llama;
import org.meft.store.HostStore;

/**
 * The adapters of one run, inserted into a model: what trains on the device, what lives in the host
 * store, and the meters. Closing removes them from the model and frees the store.
 */
public final class InstalledAdapters implements AutoCloseable {
  private static final String PREFIX = "layers.";
  private final Llama model;
  private final AdapterConfig config;
  private final Map<String, Parameter> deviceParameters;
  private final List<MeftAdapter> meftAdapters;
  private final List<ParallelAdapter> parallelAdapters;
  private final HostStore store; // null unless meft
  private final AdapterMeters meters;
  private final ActiveTokens activeTokens;

  private InstalledAdapters(
      Llama model,
      AdapterConfig config,
      Map<String, Parameter> deviceParameters,
      List<MeftAdapter> meftAdapters,
      List<ParallelAdapter> parallelAdapters,
      HostStore store,
      AdapterMeters meters,
      ActiveTokens activeTokens) {
    this.model = model;
    this.config = config;
    this.deviceParameters = deviceParameters;
    this.meftAdapters = meftAdapters;
    this.parallelAdapters = parallelAdapters;
    this.store = store;
    this.meters = meters;
    this.activeTokens = activeTokens;
  }

  /**
   * Inserts {@code config}'s adapter into {@code model}; device parameters live in {@code manager},
   * the meft host store in {@code allocator} (whose limit is the budget).
   */
  public static InstalledAdapters install(
      Llama model, AdapterConfig config, NDManager manager, BufferAllocator allocator, long seed) {
    return install(model, config, manager, allocator, seed, true);
  }

  /**
   * Inserts {@code config}'s adapter with every trainable value about to be overwritten (restoring
   * a checkpoint): the meft host store is left at zero instead of drawing N(0, keyInit) keys, which
   * would cost O(layers N D) random numbers for nothing.
   */
  public static InstalledAdapters installForRestore(
      Llama model, AdapterConfig config, NDManager manager, BufferAllocator allocator) {
    return install(model, config, manager, allocator, 0, false);
  }

  private static InstalledAdapters install(
      Llama model,
      AdapterConfig config,
      NDManager manager,
      BufferAllocator allocator,
      long seed,
      boolean initialiseStore) {
    List<Integer> layers = config.layers().resolve(model.config().nLayers());
    AdapterMeters meters = new AdapterMeters();
    ActiveTokens active = new ActiveTokens();
    Map<String, Parameter> parameters = new LinkedHashMap<>();
    List<MeftAdapter> meft = new ArrayList<>();
    List<ParallelAdapter> dense = new ArrayList<>();
    HostStore store = null;
    int dim = model.config().dim();
    if (config instanceof ParallelConfig parallel) {
      for (int layer : layers) {
        ParallelAdapter adapter =
            new ParallelAdapter(parallel, dim, seed + layer, manager, meters, active);
        model.layers().get(layer).setFfnAdapter(adapter);
        dense.add(adapter);
        parameters.put(PREFIX + layer + ".parallel.keys", adapter.keys());
        parameters.put(PREFIX + layer + ".parallel.values", adapter.values());
      }
    } else if (config instanceof MeftConfig sparse) {
      store =
          initialiseStore
              ? HostStore.allocate(
                  allocator, layers.size(), sparse.adapterSize(), dim, sparse.keyInit(), seed)
              : HostStore.allocateZeroed(allocator, layers.size(), sparse.adapterSize(), dim);
      try {
        for (int i = 0; i < layers.size(); i++) {
          MeftAdapter adapter =
              new MeftAdapter(sparse, store, i, manager, allocator, meters, active);
          meft.add(adapter);
          model.layers().get(layers.get(i)).setFfnAdapter(adapter);
          parameters.put(PREFIX + layers.get(i) + ".meft.router", adapter.router());
        }
      } catch (RuntimeException e) {
        meft.forEach(MeftAdapter::close);
        store.close();
        throw e;
      }
    } else if (config instanceof LoraConfig lora) {
      for (Parameter p : LoraInjection.inject(model, lora, layers, manager, seed, meters)) {
        parameters.put(p.getName(), p); // layers.L.PROJECTION.lora_A / lora_B
      }
    } else {
      for (Llama.Weight weight : model.weights()) {
        boolean inLayer = weight.name().startsWith("model.layers.");
        int layer = inLayer ? Integer.parseInt(weight.name().split("\\.")[2]) : -1;
        if (!inLayer || layers.contains(layer)) {
          weight.parameter().freeze(false);
          parameters.put(weight.name(), weight.parameter());
          meters.resident(4L * Float.BYTES * weight.shape().size()); // weight, grad, two moments
        }
      }
    }
    return new InstalledAdapters(
        model, config, Collections.unmodifiableMap(parameters), meft, dense, store, meters, active);
  }

  public AdapterConfig config() {
    return config;
  }

  /** The parameters the device optimizer trains. */
  public List<Parameter> deviceParameters() {
    return List.copyOf(deviceParameters.values());
  }

  /**
   * The device parameters by their checkpoint names: {@code layers.L.meft.router} [E, D], {@code
   * layers.L.parallel.keys} / {@code .values} [N, D], {@code layers.L.P.lora_A} [r, in] / {@code
   * lora_B} [out, r] (P one of q, k, v, o, gate, up, down), or the Hugging Face names of the base
   * weights for full fine-tuning; L is the model's layer index.
   */
  public Map<String, Parameter> namedDeviceParameters() {
    return deviceParameters;
  }

  /**
   * The device parameters whose AdamW moments live in host memory: the meft routers (MEFT keeps its
   * optimizer state on the host; only the router and its gradient take device memory).
   */
  public Set<Parameter> hostMomentParameters() {
    Set<Parameter> routers = new HashSet<>();
    meftAdapters.forEach(adapter -> routers.add(adapter.router()));
    return routers;
  }

  /** The model layers that hold an adapter, ascending (store layer i is the i-th of them). */
  public List<Integer> layers() {
    return config.layers().resolve(model.config().nLayers());
  }

  /** The host store, or null for methods without one. */
  public HostStore store() {
    return store;
  }

  /** The i-th installed parallel adapter (in layer order). */
  public ParallelAdapter parallelAdapter(int i) {
    return parallelAdapters.get(i);
  }

  /** The i-th installed meft adapter (in layer order). */
  public MeftAdapter meftAdapter(int i) {
    return meftAdapters.get(i);
  }

  public AdapterMeters meters() {
    return meters;
  }

  /** Which tokens of a padded batch the FFN adapters compute on (all unless set). */
  public ActiveTokens activeTokens() {
    return activeTokens;
  }

  /** Trainable parameters: device parameters plus the host store's keys and values. */
  public long trainableParameters() {
    long count = 0;
    for (Parameter parameter : deviceParameters.values()) {
      count += parameter.getArray().size();
    }
    if (store != null) {
      count += 2L * store.layers() * store.rows() * store.dim();
    }
    return count;
  }

  /** After each backward pass: moves the meft row gradients to the host store. */
  public void collectGradients() {
    meftAdapters.forEach(MeftAdapter::collectGradients);
  }

  /** Drops the gradients of a skipped step. */
  public void discardGradients() {
    meftAdapters.forEach(MeftAdapter::discardPending);
    if (store != null) {
      store.discardGradients();
    }
  }

  @Override
  public void close() {
    for (DecoderLayer layer : model.layers()) {
      layer.setFfnAdapter(null);
    }
    if (config instanceof LoraConfig) {
      LoraInjection.remove(model);
    }
    if (config instanceof FullConfig) {
      model.freezeParameters(true);
    }
    meftAdapters.forEach(MeftAdapter::close);
    if (store != null) {
      store.close();
    }
  }
}
