package org.meft.train;

import org.meft.adapter.AdapterMeters;
import org.meft.store.HostStore;

/**
 * How a sparse adapter's rows were used over a run, the measurements behind its capacity: the
 * distinct rows the tokens of a pass chose per layer before the row cap, the fraction of the
 * tokens' top-K choices that survived the cap (and so reached the device and the loss), the
 * fraction of the store's rows that AdamW ever updated, and the mean number of updates of those
 * rows (their per-row AdamW step counts), and how evenly the router spread its probes over the
 * experts (entropy over its maximum, {@link AdapterMeters#expertLoadEntropy}).
 */
public record RetrievalStats(
    double meanDistinctRowsPerLayer,
    double keptChoiceFraction,
    double rowsUpdatedFraction,
    double meanUpdatesPerUpdatedRow,
    double expertLoadEntropy) {

  /** The statistics of a run with a host store; null without one (no sparse adapter). */
  static RetrievalStats of(AdapterMeters meters, HostStore store) {
    if (store == null) {
      return null;
    }
    long updated = 0;
    long updates = 0;
    for (int layer = 0; layer < store.layers(); layer++) {
      for (int row = 0; row < store.rows(); row++) {
        int steps = store.stepCount(layer, row);
        updated += steps > 0 ? 1 : 0;
        updates += steps;
      }
    }
    long rows = (long) store.layers() * store.rows();
    return new RetrievalStats(
        meters.meanDistinctRowsPerLayer(),
        meters.keptChoiceFraction(),
        rows == 0 ? 0 : (double) updated / rows,
        updated == 0 ? 0 : (double) updates / updated,
        meters.expertLoadEntropy());
  }
}
