package org.meft.adapter.meft;

import ai.djl.nn.Parameter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.meft.adapter.Adapters;
import org.meft.adapter.InstallContext;
import org.meft.model.Llama;
import org.meft.store.HostStore;
import org.meft.store.StoreRate;

/**
 * The meft adapters of one model: a {@link MeftAdapter} beside each chosen layer's FFN, their rows
 * in one {@link HostStore} (store layer i is the i-th chosen layer). Device parameters: {@code
 * layers.L.meft.router} [E, D]; their AdamW moments live in host memory.
 */
public final class MeftAdapters implements Adapters {
  private final Llama model;
  private final List<Integer> layers;
  private final List<MeftAdapter> adapters;
  private final HostStore store;
  private final Map<String, Parameter> parameters;
  private final MeftConfig config;
  private final long seed;

  private MeftAdapters(
      Llama model,
      List<Integer> layers,
      List<MeftAdapter> adapters,
      HostStore store,
      Map<String, Parameter> parameters,
      MeftConfig config,
      long seed) {
    this.model = model;
    this.layers = layers;
    this.adapters = adapters;
    this.store = store;
    this.parameters = parameters;
    this.config = config;
    this.seed = seed;
  }

  static MeftAdapters install(
      Llama model, MeftConfig config, List<Integer> layers, InstallContext context) {
    int dim = model.config().dim();
    HostStore store =
        context.initialise()
            ? HostStore.allocate(
                context.allocator(),
                layers.size(),
                config.adapterSize(),
                dim,
                config.storeFormat(),
                config.keyInit(),
                context.seed())
            : HostStore.allocateZeroed(
                context.allocator(),
                layers.size(),
                config.adapterSize(),
                dim,
                config.storeFormat());
    List<MeftAdapter> adapters = new ArrayList<>();
    Map<String, Parameter> parameters = new LinkedHashMap<>();
    try {
      for (int i = 0; i < layers.size(); i++) {
        MeftAdapter adapter =
            new MeftAdapter(
                config,
                store,
                i,
                context.manager(),
                context.allocator(),
                context.meters(),
                context.activeTokens());
        adapters.add(adapter);
        model.layers().get(layers.get(i)).addFfnAdapter(adapter);
        parameters.put("layers." + layers.get(i) + ".meft.router", adapter.router());
      }
    } catch (RuntimeException e) {
      removeFromModel(model, layers, adapters);
      adapters.forEach(MeftAdapter::close);
      store.close();
      throw e;
    }
    return new MeftAdapters(
        model,
        layers,
        adapters,
        store,
        Collections.unmodifiableMap(parameters),
        config,
        context.seed());
  }

  /** The adapter of the i-th chosen layer. */
  public MeftAdapter adapter(int i) {
    return adapters.get(i);
  }

  @Override
  public Map<String, Parameter> deviceParameters() {
    return parameters;
  }

  /**
   * The routers: MEFT keeps optimizer state on the host; only G and its gradient are on the device.
   */
  @Override
  public Set<Parameter> hostMomentParameters() {
    return new HashSet<>(parameters.values());
  }

  @Override
  public HostStore store() {
    return store;
  }

  /**
   * With {@code key-source tokens}: draws each layer's keys from the hidden states its adapter sees
   * while {@code forwardPasses} runs the model over training tokens ({@link TokenKeys}), and starts
   * the routers again from them. Values are still zero, so the adapters add nothing meanwhile.
   */
  @Override
  public void initialiseFromTokens(Runnable forwardPasses) {
    if (config.keySource() != KeySource.TOKENS) {
      return;
    }
    List<FloatChunks> seen = new ArrayList<>();
    for (MeftAdapter adapter : adapters) {
      FloatChunks chunks = new FloatChunks();
      seen.add(chunks);
      adapter.observeTokens(chunks::add);
    }
    try {
      forwardPasses.run();
    } finally {
      adapters.forEach(adapter -> adapter.observeTokens(null));
    }
    int dim = store.dim();
    for (int i = 0; i < adapters.size(); i++) {
      float[] h = seen.get(i).joined();
      float[] keys =
          TokenKeys.fit(
              h,
              h.length / dim,
              dim,
              config.adapterSize(),
              config.experts(),
              config.keyInit(),
              seed + i);
      float[] row = new float[dim];
      for (int r = 0; r < config.adapterSize(); r++) {
        System.arraycopy(keys, r * dim, row, 0, dim);
        store.setKeyRow(i, r, row);
      }
      adapters.get(i).resetRouter();
    }
  }

  /** Float arrays joined once at the end. */
  private static final class FloatChunks {
    private final List<float[]> chunks = new ArrayList<>();
    private int length;

    void add(float[] chunk) {
      chunks.add(chunk);
      length += chunk.length;
    }

    float[] joined() {
      float[] all = new float[length];
      int at = 0;
      for (float[] chunk : chunks) {
        System.arraycopy(chunk, 0, all, at, chunk.length);
        at += chunk.length;
      }
      return all;
    }
  }

  @Override
  public StoreRate storeRate() {
    return config.storeRate();
  }

  @Override
  public void collectGradients() {
    adapters.forEach(MeftAdapter::collectGradients);
  }

  @Override
  public void discardGradients() {
    adapters.forEach(MeftAdapter::discardPending);
    store.discardGradients();
  }

  @Override
  public void close() {
    removeFromModel(model, layers, adapters);
    adapters.forEach(MeftAdapter::close);
    store.close();
  }

  /** Takes adapter i from beside the FFN of model layer {@code layers.get(i)}. */
  private static void removeFromModel(
      Llama model, List<Integer> layers, List<MeftAdapter> adapters) {
    for (int i = 0; i < adapters.size(); i++) {
      model.layers().get(layers.get(i)).removeFfnAdapter(adapters.get(i));
    }
  }
}
