package org.meft.adapter;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The configuration of a {@link ComposedMethod}: one configuration per method, both for the same
 * layers.
 *
 * @param first the primary method's
 * @param second the companion's
 */
public record ComposedConfig(AdapterConfig first, AdapterConfig second) implements AdapterConfig {

  /**
   * @throws IllegalArgumentException if the methods do not compose or the layers differ
   */
  public ComposedConfig {
    ComposedMethod method = new ComposedMethod(first.method(), second.method());
    if (!first.layers().equals(second.layers())) {
      throw new IllegalArgumentException(
          "layers: both methods of "
              + method.name()
              + " go into the same layers, got "
              + first.layers().spec()
              + " and "
              + second.layers().spec());
    }
  }

  @Override
  public ComposedMethod method() {
    return new ComposedMethod(first.method(), second.method());
  }

  @Override
  public LayerSelection layers() {
    return first.layers();
  }

  /** The first method's settings, then the second's under {@link ComposedMethod#secondName}. */
  @Override
  public Map<String, String> settings() {
    ComposedMethod method = method();
    Map<String, String> s = new LinkedHashMap<>(first.settings());
    second.settings().forEach((name, value) -> s.put(method.secondName(name), value));
    return s;
  }

  @Override
  public List<AdapterConfig> parts() {
    return List.of(first, second);
  }
}
