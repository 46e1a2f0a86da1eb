package org.meft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.meft.adapter.AdapterMeters;
import org.meft.store.HostStore;

/** The capacity meters against counts worked out by hand. */
class RetrievalStatsTest {

  @Test
  void countsChoicesKeptAndRowsUpdatedOverLayers() {
    AdapterMeters meters = new AdapterMeters();
    meters.choices(100, 40, 300); // layer 0: 100 choices over 300 rows, 40 kept
    meters.choices(60, 60, 50); // layer 1: all 60 kept, 50 distinct rows
    int layers = 2;
    int rows = 8;
    int dim = 4;
    try (BufferAllocator root = new RootAllocator(HostStore.bytesNeeded(layers, rows, dim));
        HostStore store = HostStore.allocate(root, layers, rows, dim, 1f, 3)) {
      store.setStepCount(0, 1, 5);
      store.setStepCount(0, 6, 1);
      store.setStepCount(1, 0, 3);
      RetrievalStats stats = RetrievalStats.of(meters, store);
      assertEquals(100.0 / 160, stats.keptChoiceFraction(), 1e-12);
      assertEquals(175.0, stats.meanDistinctRowsPerLayer(), 1e-12);
      assertEquals(3.0 / 16, stats.rowsUpdatedFraction(), 1e-12);
      assertEquals(9.0 / 3, stats.meanUpdatesPerUpdatedRow(), 1e-12);
      assertEquals(0.0, stats.expertLoadEntropy(), "nothing routed");
    }
    assertNull(RetrievalStats.of(meters, null), "no host store: no sparse adapter to measure");
  }

  @Test
  void expertLoadEntropyIsOneWhenUniformAndFallsAsOneExpertTakesMore() {
    AdapterMeters uniform = new AdapterMeters();
    uniform.probes(new int[] {0, 1, 2, 3}, 4);
    uniform.probes(new int[] {3, 2, 1, 0}, 4);
    assertEquals(1.0, uniform.expertLoadEntropy(), 1e-12);
    AdapterMeters skewed = new AdapterMeters();
    skewed.probes(new int[] {0, 0, 0, 1}, 4); // shares 3/4, 1/4 over 4 experts
    double expected = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25)) / Math.log(4);
    assertEquals(expected, skewed.expertLoadEntropy(), 1e-12);
    AdapterMeters single = new AdapterMeters();
    single.probes(new int[] {0, 0}, 1);
    assertEquals(1.0, single.expertLoadEntropy());
  }

  @Test
  void nothingRetrievedKeepsEverything() {
    AdapterMeters meters = new AdapterMeters();
    assertEquals(1.0, meters.keptChoiceFraction());
    assertEquals(0.0, meters.meanDistinctRowsPerLayer());
  }
}
