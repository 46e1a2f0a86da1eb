package org.meft.adapter.parallel;

import ai.djl.nn.Parameter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.meft.adapter.Adapters;
import org.meft.adapter.InstallContext;
import org.meft.model.Llama;

/**
 * The parallel adapters of one model, one beside each chosen layer's FFN. Device parameters: {@code
 * layers.L.parallel.keys} and {@code layers.L.parallel.values} [N, D].
 */
public final class ParallelAdapters implements Adapters {
  private final Llama model;
  private final List<Integer> layers;
  private final List<ParallelAdapter> adapters;
  private final Map<String, Parameter> parameters;

  private ParallelAdapters(
      Llama model,
      List<Integer> layers,
      List<ParallelAdapter> adapters,
      Map<String, Parameter> parameters) {
    this.model = model;
    this.layers = layers;
    this.adapters = adapters;
    this.parameters = parameters;
  }

  static ParallelAdapters install(
      Llama model, ParallelConfig config, List<Integer> layers, InstallContext context) {
    List<ParallelAdapter> adapters = new ArrayList<>();
    Map<String, Parameter> parameters = new LinkedHashMap<>();
    for (int layer : layers) {
      ParallelAdapter adapter =
          new ParallelAdapter(
              config,
              model.config().dim(),
              context.seed() + layer,
              context.manager(),
              context.meters(),
              context.activeTokens());
      model.layers().get(layer).addFfnAdapter(adapter);
      adapters.add(adapter);
      parameters.put("layers." + layer + ".parallel.keys", adapter.keys());
      parameters.put("layers." + layer + ".parallel.values", adapter.values());
    }
    return new ParallelAdapters(model, layers, adapters, Collections.unmodifiableMap(parameters));
  }

  /** The adapter of the i-th chosen layer. */
  public ParallelAdapter adapter(int i) {
    return adapters.get(i);
  }

  @Override
  public Map<String, Parameter> deviceParameters() {
    return parameters;
  }

  @Override
  public void close() {
    for (int i = 0; i < adapters.size(); i++) {
      model.layers().get(layers.get(i)).removeFfnAdapter(adapters.get(i));
    }
  }
}
