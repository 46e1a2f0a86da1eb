package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import java.util.HashMap;
import java.util.Map;

/**
 * The deltas installed on one block's projections, by projection name (q, k, v, o of the attention;
 * gate, up, down of the FFN), and the block's projections with them.
 */
final class ProjectionDeltas {
  private final Map<String, LinearDelta> byProjection = new HashMap<>();

  /** Installs (or, with null, removes) a delta on {@code projection}. */
  void set(String projection, LinearDelta delta) {
    if (delta == null) {
      byProjection.remove(projection);
    } else {
      byProjection.put(projection, delta);
    }
  }

  /** The installed deltas, by projection. */
  Map<String, LinearDelta> all() {
    return Map.copyOf(byProjection);
  }

  /** {@code residual + x w^T + delta(x)} of {@code projection}; see {@link LinearDelta#project}. */
  NDArray project(LayerPass pass, NDArray x, String projection, Parameter w, NDArray residual) {
    return LinearDelta.project(pass, x, pass.value(w, x), byProjection.get(projection), residual);
  }
}
