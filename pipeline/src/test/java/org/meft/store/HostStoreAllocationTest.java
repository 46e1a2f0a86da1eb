package org.meft.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.Arrays;
import org.apache.arrow.memory.AllocationListener;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.OutOfMemoryException;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.rounding.DefaultRoundingPolicy;
import org.junit.jupiter.api.Test;

/** Memory accounting, the budget preflight, cleanup on failure, and the initial keys. */
class HostStoreAllocationTest {
  private static final long HALF = 32 * 1024;

  @Test
  void bytesEqualsBytesNeededAndTheAllocatorsCount() {
    int[][] shapes = {{2, 64, 16}, {3, 37, 5}, {1, 1, 1}};
    for (int[] s : shapes) {
      long need = HostStore.bytesNeeded(s[0], s[1], s[2]);
      try (BufferAllocator root = new RootAllocator(need);
          HostStore store = HostStore.allocate(root, s[0], s[1], s[2], 0.02f, 1)) {
        assertEquals(need, store.bytes());
        assertEquals(need, root.getAllocatedMemory());
        assertEquals(
            java.util.Set.of(HostStore.ALLOCATOR_NAME, HostStore.STAGE_ALLOCATOR_NAME),
            root.getChildAllocators().stream()
                .map(BufferAllocator::getName)
                .collect(java.util.stream.Collectors.toSet()));
      }
    }
    long pow2 = 6L * 64 * 16 * Float.BYTES + 64 * Integer.BYTES;
    assertEquals(2 * pow2, HostStore.bytesNeeded(2, 64, 16), "power-of-two buffers are exact");
  }

  @Test
  void bytesNeededOfAPaperSizedStoreIsTheTensorsExactly() {
    long perLayer = 6L * 16384 * 4096 * Float.BYTES + 16384 * Integer.BYTES;
    assertEquals(32 * perLayer, HostStore.bytesNeeded(32, 16384, 4096));
    long odd = 6L * 50000 * 4096 * Float.BYTES;
    assertEquals(odd, HostStore.bytesNeeded(1, 50000, 4096) - 262144, "steps 200000 B -> 256 KiB");
  }

  @Test
  void chunkedStoreHoldsTheSameKeysAndGathersAcrossChunkBoundaries() {
    int rows = 23;
    int dim = 4;
    long maxChunk = 5L * dim * Float.BYTES;
    long need =
        HostStore.bytesNeeded(
            2, rows, dim, maxChunk, DefaultRoundingPolicy.DEFAULT_ROUNDING_POLICY);
    try (BufferAllocator root = new RootAllocator(need + HostStore.bytesNeeded(2, rows, dim));
        HostStore chunked = HostStore.allocate(root, 2, rows, dim, 1f, 5, maxChunk);
        HostStore whole = HostStore.allocate(root, 2, rows, dim, 1f, 5)) {
      assertEquals(need, chunked.bytes());
      for (int r = 0; r < rows; r++) {
        assertArrayEquals(whole.keyRow(1, r), chunked.keyRow(1, r));
      }
      int[] ids = {4, 5, 9, 10, 22, 0};
      ByteBuffer a = StoreTesting.direct(new float[ids.length * dim]);
      ByteBuffer b = StoreTesting.direct(new float[ids.length * dim]);
      chunked.gather(1, ids, ids.length, a, StoreTesting.direct(new float[ids.length * dim]));
      whole.gather(1, ids, ids.length, b, StoreTesting.direct(new float[ids.length * dim]));
      assertArrayEquals(
          StoreTesting.floats(b, ids.length * dim), StoreTesting.floats(a, ids.length * dim));
    }
  }

  @Test
  void refusesAStoreOverBudgetBeforeAllocatingAnything() {
    long need = HostStore.bytesNeeded(2, 1000, 64);
    try (BufferAllocator root = new RootAllocator(need - 1)) {
      StoreBudgetException e =
          assertThrows(
              StoreBudgetException.class, () -> HostStore.allocate(root, 2, 1000, 64, 0.02f, 1));
      assertEquals(need, e.neededBytes());
      assertEquals(need - 1, e.budgetBytes());
      assertTrue(e.getMessage().contains(need + " bytes"), e.getMessage());
      assertTrue(e.getMessage().contains((need - 1) + " bytes"), e.getMessage());
      assertTrue(e.getMessage().contains(StoreBudgetException.humanBytes(need)), e.getMessage());
      assertEquals(0, root.getAllocatedMemory());
      assertTrue(root.getChildAllocators().isEmpty());
    }
  }

  @Test
  void budgetIsTheHeadroomLeftByOtherAllocations() {
    long need = HostStore.bytesNeeded(1, 100, 8);
    try (BufferAllocator root = new RootAllocator(need + 4096);
        ArrowBuf other = root.buffer(8192)) {
      StoreBudgetException e =
          assertThrows(
              StoreBudgetException.class, () -> HostStore.allocate(root, 1, 100, 8, 0.02f, 1));
      assertEquals(need + 4096 - 8192, e.budgetBytes());
      assertEquals(other.capacity(), root.getAllocatedMemory());
    }
  }

  @Test
  void humanReadableSizes() {
    assertEquals("1.5 GiB", StoreBudgetException.humanBytes(1610612736L));
    assertEquals("1.0 GiB", StoreBudgetException.humanBytes(1L << 30));
    assertEquals("512 B", StoreBudgetException.humanBytes(512));
    assertEquals("2.0 KiB", StoreBudgetException.humanBytes(2048));
  }

  @Test
  void anAllocationFailingMidwayReleasesEverythingAllocatedBefore() {
    long need = HostStore.bytesNeeded(2, 64, 24);
    assertTrue(need > 2 * HALF && need < 4 * HALF);
    // Another consumer takes most of the budget after the preflight, at the store's 5th buffer.
    BufferAllocator[] hog = new BufferAllocator[1];
    ArrowBuf[] taken = new ArrowBuf[1];
    AllocationListener competitor =
        new AllocationListener() {
          private int calls;

          @Override
          public void onPreAllocation(long size) {
            if (++calls == 5) {
              taken[0] = hog[0].buffer(HALF);
            }
          }
        };
    try (BufferAllocator root = new RootAllocator(competitor, need)) {
      hog[0] = root.newChildAllocator("hog", AllocationListener.NOOP, 0, Long.MAX_VALUE);
      assertThrows(OutOfMemoryException.class, () -> HostStore.allocate(root, 2, 64, 24, 0.02f, 1));
      assertEquals(HALF, root.getAllocatedMemory(), "only the competitor's buffer is left");
      taken[0].close();
      hog[0].close();
      assertEquals(0, root.getAllocatedMemory());
      assertTrue(root.getChildAllocators().isEmpty(), "the store's child allocator is closed");
    }
  }

  @Test
  void closeIsIdempotentAndUseAfterCloseFails() {
    try (BufferAllocator root = new RootAllocator(1 << 20)) {
      HostStore store = HostStore.allocate(root, 1, 8, 4, 0.02f, 1);
      store.close();
      assertDoesNotThrow(store::close);
      assertEquals(0, root.getAllocatedMemory());
      assertThrows(IllegalStateException.class, () -> store.keyRow(0, 0));
      assertThrows(IllegalStateException.class, () -> store.applyAdamW(1, 0.9f, 0.9f, 0, 0));
    }
  }

  @Test
  void initialKeysAreSeededGaussianAndEverythingElseIsZero() throws Exception {
    int rows = 2048;
    int dim = 64;
    float std = 0.02f;
    try (BufferAllocator root = new RootAllocator(3 * HostStore.bytesNeeded(2, rows, dim));
        HostStore a = HostStore.allocate(root, 2, rows, dim, std, 42);
        HostStore b =
            StoreTesting.onThreads(1, () -> HostStore.allocate(root, 2, rows, dim, std, 42));
        HostStore c = HostStore.allocate(root, 2, rows, dim, std, 43)) {
      double sum = 0;
      double sumSquares = 0;
      for (int l = 0; l < 2; l++) {
        for (int r = 0; r < rows; r++) {
          float[] key = a.keyRow(l, r);
          assertArrayEquals(key, b.keyRow(l, r), "same seed, any thread count, same keys");
          for (float x : key) {
            sum += x;
            sumSquares += x * x;
          }
          assertArrayEquals(new float[dim], a.valueRow(l, r));
          assertArrayEquals(new float[dim], a.keyMomentRow(l, r, 1));
          assertArrayEquals(new float[dim], a.valueMomentRow(l, r, 2));
          assertArrayEquals(new float[dim], a.keyGradientRow(l, r));
          assertEquals(0, a.stepCount(l, r));
        }
      }
      assertFalse(Arrays.equals(a.keyRow(0, 0), c.keyRow(0, 0)), "other seed");
      assertFalse(Arrays.equals(a.keyRow(0, 0), a.keyRow(1, 0)), "layers differ");
      long n = 2L * rows * dim;
      double mean = sum / n;
      double measuredStd = Math.sqrt(sumSquares / n - mean * mean);
      assertEquals(0, mean, 3 * std / Math.sqrt(n));
      assertEquals(std, measuredStd, 0.01 * std);
    }
  }
}
