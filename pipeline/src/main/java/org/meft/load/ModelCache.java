package org.meft.load;

import ai.djl.Device;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.meft.adapter.InstalledAdapters;
import org.meft.checkpoint.AdapterCheckpoint;
import org.meft.model.BaseDtype;

/**
 * Loaded base models, each with at most one run's adapter installed, kept between the tasks of one
 * JVM so that a model and an adapter load once per JVM instead of once per task.
 *
 * <p>A slot holds one base model (keyed by {@link BaseKey}: path, tokenizer, dtype, device) and the
 * adapter of one checkpoint installed into it. Installing an adapter changes the model, so a slot
 * is used by one task at a time: {@link #acquire} leases it exclusively until the lease is closed.
 * A request takes, in this order: an idle slot with its model and adapter; an idle slot with its
 * model (the adapter is swapped); a new slot while fewer than {@code bound} exist; the least
 * recently used idle slot (the model is replaced); else it waits for a lease to end. So at most
 * {@code bound} models are held, and two runs' adapters never share a model at once.
 *
 * @param <M> the base model
 * @param <A> an adapter installed into one model
 */
public final class ModelCache<M extends AutoCloseable, A extends AutoCloseable>
    implements AutoCloseable {

  /** What makes two base models the same: a model is reused only for an equal key. */
  public record BaseKey(Path model, Path tokenizer, BaseDtype dtype, Device device) {
    public BaseKey {
      Objects.requireNonNull(model, "model");
      Objects.requireNonNull(dtype, "dtype");
      model = model.toAbsolutePath().normalize();
      tokenizer = tokenizer == null ? null : tokenizer.toAbsolutePath().normalize();
    }
  }

  /** How models load and adapters install; the cache decides when. */
  public interface Loader<M, A> {
    M loadBase(BaseKey key);

    /** Installs the adapter of checkpoint directory {@code checkpoint} into {@code model}. */
    A installAdapter(M model, Path checkpoint);

    /** The checkpoint directory that {@code path} names (a run directory names its latest). */
    default Path checkpointOf(Path path) {
      return path;
    }
  }

  /** A loaded adapter checkpoint and the allocator that holds its host store. */
  public record LoadedAdapter(InstalledAdapters adapters, BufferAllocator allocator)
      implements AutoCloseable {
    @Override
    public void close() {
      try (allocator) {
        adapters.close();
      }
    }
  }

  /** The real loader: {@link LanguageModel#load} and {@link AdapterCheckpoint#load}. */
  public static Loader<LanguageModel, LoadedAdapter> languageModelLoader() {
    return new Loader<>() {
      @Override
      public LanguageModel loadBase(BaseKey key) {
        return LanguageModel.load(key.model(), key.tokenizer(), key.dtype(), key.device());
      }

      @Override
      public Path checkpointOf(Path path) {
        return AdapterCheckpoint.resolve(path);
      }

      @Override
      public LoadedAdapter installAdapter(LanguageModel model, Path checkpoint) {
        long budget = AdapterCheckpoint.readManifest(checkpoint).run().hostBudgetBytes();
        BufferAllocator allocator = new RootAllocator(budget);
        try {
          return new LoadedAdapter(
              AdapterCheckpoint.load(checkpoint, model.llama(), model.manager(), allocator),
              allocator);
        } catch (RuntimeException e) {
          allocator.close();
          throw e;
        }
      }
    };
  }

  private final class Slot {
    final BaseKey base;
    M model; // null while the first lease loads it
    Path checkpoint;
    A adapter;
    boolean leased = true;
    long lastUsed;

    Slot(BaseKey base) {
      this.base = base;
    }

    void closeAdapter() throws Exception {
      if (adapter != null) {
        A old = adapter;
        adapter = null;
        checkpoint = null;
        old.close();
      }
    }

    void closeAll() throws Exception {
      try {
        closeAdapter();
      } finally {
        if (model != null) {
          M old = model;
          model = null;
          old.close();
        }
      }
    }
  }

  /** One task's exclusive use of a model with an adapter installed; closing returns it. */
  public final class Lease implements AutoCloseable {
    private final Slot slot;
    private boolean released;

    private Lease(Slot slot) {
      this.slot = slot;
    }

    public M model() {
      return slot.model;
    }

    public A adapter() {
      return slot.adapter;
    }

    @Override
    public void close() {
      if (!released) {
        released = true;
        release(slot);
      }
    }
  }

  private final int bound;
  private final Loader<M, A> loader;
  private final List<Slot> slots = new ArrayList<>();
  private final AtomicInteger baseLoads = new AtomicInteger();
  private final AtomicInteger adapterLoads = new AtomicInteger();
  private long clock;
  private boolean closed;

  /** At most {@code bound} models at once. */
  public ModelCache(int bound, Loader<M, A> loader) {
    if (bound < 1) {
      throw new IllegalArgumentException("a model cache holds at least 1 model, got " + bound);
    }
    this.bound = bound;
    this.loader = Objects.requireNonNull(loader, "loader");
  }

  public int bound() {
    return bound;
  }

  /** Base models loaded so far. */
  public int baseLoads() {
    return baseLoads.get();
  }

  /** Adapters installed so far. */
  public int adapterLoads() {
    return adapterLoads.get();
  }

  /**
   * The model of {@code base} with the adapter of {@code checkpoint} (a checkpoint directory, or a
   * run directory for its latest checkpoint) installed, leased to the caller until the lease is
   * closed; loads what the cache does not hold, waiting while every slot is leased.
   */
  public Lease acquire(BaseKey base, Path checkpoint) {
    Path adapterDir = loader.checkpointOf(checkpoint).toAbsolutePath().normalize();
    Slot slot = reserve(base, adapterDir);
    try {
      if (slot.model == null) {
        slot.model = loader.loadBase(base);
        baseLoads.incrementAndGet();
      }
      if (!adapterDir.equals(slot.checkpoint)) {
        slot.closeAdapter();
        slot.adapter = loader.installAdapter(slot.model, adapterDir);
        slot.checkpoint = adapterDir;
        adapterLoads.incrementAndGet();
      }
      return new Lease(slot);
    } catch (Throwable e) {
      discard(slot);
      if (e instanceof RuntimeException runtime) {
        throw runtime;
      }
      if (e instanceof Error error) {
        throw error;
      }
      throw new IllegalStateException("cannot load " + base.model() + ": " + e.getMessage(), e);
    }
  }

  /** Under the lock: a slot for the request, leased to the caller, that may still need loading. */
  private synchronized Slot reserve(BaseKey base, Path adapterDir) {
    while (true) {
      if (closed) {
        throw new IllegalStateException("the model cache is closed");
      }
      Optional<Slot> exact =
          idle().filter(s -> s.base.equals(base) && adapterDir.equals(s.checkpoint)).findFirst();
      Optional<Slot> sameBase = idle().filter(s -> s.base.equals(base)).findFirst();
      Slot chosen = exact.or(() -> sameBase).orElse(null);
      if (chosen == null && slots.size() < bound) {
        chosen = new Slot(base);
        slots.add(chosen);
      }
      if (chosen == null) {
        chosen = idle().min(Comparator.comparingLong(s -> s.lastUsed)).orElse(null);
        if (chosen != null) {
          // Another model: this slot is replaced by a fresh one for the request.
          slots.remove(chosen);
          closeQuietly(chosen);
          chosen = new Slot(base);
          slots.add(chosen);
        }
      }
      if (chosen != null) {
        chosen.leased = true;
        return chosen;
      }
      try {
        wait();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for a model", e);
      }
    }
  }

  private java.util.stream.Stream<Slot> idle() {
    return slots.stream().filter(s -> !s.leased);
  }

  private synchronized void release(Slot slot) {
    slot.leased = false;
    slot.lastUsed = ++clock;
    if (closed) {
      slots.remove(slot);
      closeQuietly(slot);
    }
    notifyAll();
  }

  private synchronized void discard(Slot slot) {
    slots.remove(slot);
    closeQuietly(slot);
    notifyAll();
  }

  private void closeQuietly(Slot slot) {
    try {
      slot.closeAll();
    } catch (Exception e) {
      throw new IllegalStateException("cannot free a cached model: " + e.getMessage(), e);
    }
  }

  /** Frees every idle model now and every leased one when its lease ends. */
  @Override
  public synchronized void close() {
    closed = true;
    for (Slot slot : List.copyOf(slots)) {
      if (!slot.leased) {
        slots.remove(slot);
        closeQuietly(slot);
      }
    }
    notifyAll();
  }
}
