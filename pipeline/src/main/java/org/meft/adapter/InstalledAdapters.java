package org.meft.adapter;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.arrow.memory.BufferAllocator;
import org.meft.model.Llama;
import org.meft.store.HostStore;
import org.meft.store.StoreRate;

/**
 * The adapters of one run, inserted into a model by their {@link AdapterMethod}: what trains on the
 * device, what lives in the host store, and the meters. Closing removes them from the model and
 * frees the store.
 */
public final class InstalledAdapters implements AutoCloseable {
  private final Llama model;
  private final AdapterConfig config;
  private final Adapters adapters;
  private final List<Adapters> attached = new ArrayList<>(); // e.g. a reversible stack's
  private final AdapterMeters meters;
  private final ActiveTokens activeTokens;

  private InstalledAdapters(
      Llama model,
      AdapterConfig config,
      Adapters adapters,
      AdapterMeters meters,
      ActiveTokens activeTokens) {
    this.model = model;
    this.config = config;
    this.adapters = adapters;
    this.meters = meters;
    this.activeTokens = activeTokens;
  }

  /**
   * Inserts {@code config}'s adapter into {@code model}; device parameters live in {@code manager},
   * host state (the meft store) in {@code allocator}, whose limit is the budget.
   */
  public static InstalledAdapters install(
      Llama model, AdapterConfig config, NDManager manager, BufferAllocator allocator, long seed) {
    return install(model, config, manager, allocator, seed, true);
  }

  /**
   * Inserts {@code config}'s adapter with every trainable value about to be overwritten (restoring
   * a checkpoint): host state is left at zero instead of drawing random numbers for nothing.
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
      boolean initialise) {
    List<Integer> layers = config.layers().resolve(model.config().nLayers());
    AdapterMeters meters = new AdapterMeters();
    ActiveTokens active = new ActiveTokens();
    InstallContext context =
        new InstallContext(manager, allocator, seed, initialise, meters, active);
    Adapters adapters = config.method().install(model, config, layers, context);
    return new InstalledAdapters(model, config, adapters, meters, active);
  }

  public AdapterConfig config() {
    return config;
  }

  /**
   * The method's adapters, as the type its folder defines, or a composed method's part of that type
   * (tests and benches reach inside).
   */
  public <T extends Adapters> T adapters(Class<T> type) {
    List<Adapters> parts =
        adapters instanceof ComposedAdapters composed ? composed.parts() : List.of(adapters);
    for (Adapters part : parts) {
      if (type.isInstance(part)) {
        return type.cast(part);
      }
    }
    throw new IllegalStateException(
        "the installed method is " + config.method().name() + ", not " + type.getSimpleName());
  }

  /** The parameters the device optimizer trains. */
  public List<Parameter> deviceParameters() {
    return List.copyOf(namedDeviceParameters().values());
  }

  /**
   * The device parameters by their checkpoint names: {@code layers.L.meft.router} [E, D], {@code
   * layers.L.parallel.keys} / {@code .values} [N, D], {@code layers.L.P.lora_A} [r, in] / {@code
   * lora_B} [out, r] (P one of q, k, v, o, gate, up, down), or the Hugging Face names of the base
   * weights for full fine-tuning; L is the model's layer index.
   */
  public Map<String, Parameter> namedDeviceParameters() {
    if (attached.isEmpty()) {
      return adapters.deviceParameters();
    }
    Map<String, Parameter> all = new LinkedHashMap<>(adapters.deviceParameters());
    for (Adapters more : attached) {
      all.putAll(more.deviceParameters());
    }
    return Collections.unmodifiableMap(all);
  }

  /**
   * Adds adapters that are not the method's own but train and are checkpointed with it (a
   * reversible stack's block adapters): their device parameters join {@link
   * #namedDeviceParameters}, and closing these closes them first.
   */
  public void attach(Adapters more) {
    attached.add(more);
  }

  /** The device parameters whose AdamW moments live in host memory (the meft routers). */
  public Set<Parameter> hostMomentParameters() {
    return adapters.hostMomentParameters();
  }

  /** The model layers that hold an adapter, ascending (store layer i is the i-th of them). */
  public List<Integer> layers() {
    return config.layers().resolve(model.config().nLayers());
  }

  /** The host store, or null for methods without one. */
  public HostStore store() {
    return adapters.store();
  }

  /** See {@link Adapters#initialiseFromTokens}. */
  public void initialiseFromTokens(Runnable forwardPasses) {
    adapters.initialiseFromTokens(forwardPasses);
  }

  /** The learning rate of the host store's values. */
  public StoreRate storeRate() {
    return adapters.storeRate();
  }

  public AdapterMeters meters() {
    return meters;
  }

  /** Which tokens of a padded batch the FFN adapters compute on (all unless set). */
  public ActiveTokens activeTokens() {
    return activeTokens;
  }

  /**
   * Trainable parameters: device parameters plus the host store's values, and keys unless frozen.
   */
  public long trainableParameters() {
    long count = 0;
    for (Parameter parameter : namedDeviceParameters().values()) {
      count += parameter.getArray().size();
    }
    HostStore store = adapters.store();
    if (store != null) { // values, and keys unless frozen
      int tensors = adapters.storeRate().keyScale() > 0 ? 2 : 1;
      count += (long) tensors * store.layers() * store.rows() * store.dim();
    }
    return count;
  }

  /** After each backward pass: moves the host rows' gradients to the host store. */
  public void collectGradients() {
    adapters.collectGradients();
  }

  /** Drops the gradients of a skipped step. */
  public void discardGradients() {
    adapters.discardGradients();
  }

  @Override
  public void close() {
    for (int i = attached.size() - 1; i >= 0; i--) {
      attached.get(i).close();
    }
    adapters.close();
  }
}
