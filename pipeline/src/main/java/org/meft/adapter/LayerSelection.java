package org.meft.adapter;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The decoder layers an adapter goes into: {@code all}, {@code first:n}, {@code last:n}, or a
 * comma-separated list of indices such as {@code 0,3,5}.
 */
public record LayerSelection(String spec) {

  public static final LayerSelection ALL = new LayerSelection("all");

  public LayerSelection {
    spec = spec.strip().toLowerCase(Locale.ROOT);
    if (!spec.equals("all")
        && !spec.matches("(first|last):\\d+")
        && !spec.matches("\\d+(,\\d+)*")) {
      throw new IllegalArgumentException(
          "layers must be all, first:N, last:N or a list like 0,3,5; got '" + spec + "'");
    }
  }

  /** The selected indices for a model of {@code nLayers} layers, ascending. */
  public List<Integer> resolve(int nLayers) {
    List<Integer> layers = new ArrayList<>();
    if (spec.equals("all")) {
      for (int i = 0; i < nLayers; i++) {
        layers.add(i);
      }
      return layers;
    }
    if (spec.contains(":")) {
      int n = Integer.parseInt(spec.substring(spec.indexOf(':') + 1));
      if (n < 1 || n > nLayers) {
        throw new IllegalArgumentException(
            "layers " + spec + ": n must be in [1, " + nLayers + "] for this model");
      }
      int from = spec.startsWith("first") ? 0 : nLayers - n;
      for (int i = from; i < from + n; i++) {
        layers.add(i);
      }
      return layers;
    }
    for (String part : spec.split(",")) {
      int index = Integer.parseInt(part);
      if (index >= nLayers) {
        throw new IllegalArgumentException(
            "layers: index " + index + " is out of range [0, " + (nLayers - 1) + "]");
      }
      if (!layers.contains(index)) {
        layers.add(index);
      }
    }
    layers.sort(null);
    return layers;
  }
}
