package org.meft.adapter;

import ai.djl.nn.Parameter;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.meft.model.Llama;
import org.meft.store.HostStore;
import org.meft.store.StoreRate;

/**
 * The adapters of a {@link ComposedMethod} inside one model: the first method's and the second's,
 * installed in that order (so the first's FFN adapter is added first) and closed in reverse. The
 * second installs from a seed drawn from the run's: meft's and parallel's keys would otherwise
 * start equal, and the two adapters would learn the same rows.
 */
final class ComposedAdapters implements Adapters {
  private final Adapters first;
  private final Adapters second;
  private final Map<String, Parameter> parameters;

  private ComposedAdapters(Adapters first, Adapters second) {
    if (first.store() != null && second.store() != null) {
      throw new IllegalArgumentException("both methods keep a host store; a run holds one");
    }
    Map<String, Parameter> all = new LinkedHashMap<>(first.deviceParameters());
    for (Map.Entry<String, Parameter> e : second.deviceParameters().entrySet()) {
      if (all.put(e.getKey(), e.getValue()) != null) {
        throw new IllegalArgumentException("both methods name a parameter " + e.getKey());
      }
    }
    this.first = first;
    this.second = second;
    this.parameters = Collections.unmodifiableMap(all);
  }

  static ComposedAdapters install(
      Llama model, ComposedConfig config, List<Integer> layers, InstallContext context) {
    Adapters a = config.first().method().install(model, config.first(), layers, context);
    Adapters b = null;
    try {
      InstallContext own = context.withSeed(new SplittableRandom(context.seed()).nextLong());
      b = config.second().method().install(model, config.second(), layers, own);
      return new ComposedAdapters(a, b);
    } catch (RuntimeException e) {
      if (b != null) {
        b.close();
      }
      a.close();
      throw e;
    }
  }

  /** The two methods' adapters, first then second. */
  List<Adapters> parts() {
    return List.of(first, second);
  }

  @Override
  public Map<String, Parameter> deviceParameters() {
    return parameters;
  }

  @Override
  public Set<Parameter> hostMomentParameters() {
    Set<Parameter> both = new HashSet<>(first.hostMomentParameters());
    both.addAll(second.hostMomentParameters());
    return both;
  }

  @Override
  public HostStore store() {
    return first.store() != null ? first.store() : second.store();
  }

  /** The rate of the store's rows: the method's that holds the store. */
  @Override
  public StoreRate storeRate() {
    return first.store() != null ? first.storeRate() : second.storeRate();
  }

  @Override
  public void initialiseFromTokens(Runnable forwardPasses) {
    first.initialiseFromTokens(forwardPasses);
    second.initialiseFromTokens(forwardPasses);
  }

  @Override
  public void collectGradients() {
    first.collectGradients();
    second.collectGradients();
  }

  @Override
  public void discardGradients() {
    first.discardGradients();
    second.discardGradients();
  }

  @Override
  public void close() {
    try {
      second.close();
    } finally {
      first.close();
    }
  }
}
