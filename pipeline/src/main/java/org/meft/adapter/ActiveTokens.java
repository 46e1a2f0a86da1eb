package org.meft.adapter;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * The tokens of a padded batch that the adapters compute on. Padding positions never reach the
 * loss, so the adapters skip them: they would cost device memory and, for meft, compete for the
 * capped row set S. Shared by every adapter of a model; empty (all tokens) unless the trainer sets
 * it.
 */
public final class ActiveTokens {
  private NDArray positions; // [M] int64, flat indices into the batch's B*T tokens; null: all
  private NDArray inverse; // [B*T] int64, each token's row in the active set, M for padding
  private long total;

  /**
   * From now on the adapters compute on {@code positions} (ascending flat indices into {@code
   * total} tokens) only. The arrays stay owned by the caller.
   */
  public void set(NDArray positions, NDArray inverse, long total) {
    this.positions = positions;
    this.inverse = inverse;
    this.total = total;
  }

  /** Back to every token. */
  public void clear() {
    positions = null;
    inverse = null;
    total = 0;
  }

  /** h [B*T, D] -> the active tokens' rows [M, D] (h itself when every token is active). */
  public NDArray select(NDArray h) {
    if (!applies(h)) {
      return h;
    }
    return h.get(new NDIndex("{}", positions));
  }

  /** a [M, D] of the active tokens -> [B*T, D], zero at the other positions. */
  public NDArray expand(NDArray a, NDArray h) {
    if (!applies(h)) {
      return a;
    }
    NDArray padded = a.concat(a.getManager().zeros(new Shape(1, a.getShape().get(1))), 0);
    return padded.get(new NDIndex("{}", inverse));
  }

  private boolean applies(NDArray h) {
    if (positions == null) {
      return false;
    }
    if (h.getShape().get(0) != total) {
      throw new IllegalStateException(
          "active tokens were set for " + total + " tokens, the pass has " + h.getShape().get(0));
    }
    return true;
  }

  /** Positions and inverse map for {@code valid} (true = a real token), as long arrays. */
  public static long[][] indices(boolean[] valid) {
    int m = 0;
    for (boolean v : valid) {
      m += v ? 1 : 0;
    }
    long[] positions = new long[m];
    long[] inverse = new long[valid.length];
    for (int i = 0, j = 0; i < valid.length; i++) {
      if (valid[i]) {
        positions[j] = i;
        inverse[i] = j++;
      } else {
        inverse[i] = m;
      }
    }
    return new long[][] {positions, inverse};
  }
}
