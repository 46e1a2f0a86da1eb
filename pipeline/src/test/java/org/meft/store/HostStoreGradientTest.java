package org.meft.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.meft.store.StoreTesting.direct;
import static org.meft.store.StoreTesting.floats;

import java.nio.ByteBuffer;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/** Gather, gradient accumulation, norm, scaling and discarding on known values. */
class HostStoreGradientTest {
  private static final int ROWS = 10;
  private static final int DIM = 3;

  @Test
  void gatherReturnsExactlyTheStoredRowsInRequestOrder() {
    try (BufferAllocator root = new RootAllocator(1 << 20);
        HostStore store = HostStore.allocate(root, 2, ROWS, DIM, 0.02f, 1)) {
      for (int r = 0; r < ROWS; r++) {
        store.setKeyRow(1, r, new float[] {r, r + 0.5f, -r});
        store.setValueRow(1, r, new float[] {10 * r, 1, 2});
      }
      int[] ids = {7, 0, 7, 9, 3};
      ByteBuffer keys = direct(new float[ids.length * DIM]);
      ByteBuffer values = direct(new float[ids.length * DIM]);
      keys.position(4);
      store.gather(1, ids, ids.length, keys, values);

      float[] k = floats(keys, ids.length * DIM);
      float[] v = floats(values, ids.length * DIM);
      for (int j = 0; j < ids.length; j++) {
        assertArrayEquals(store.keyRow(1, ids[j]), slice(k, j), "key of row " + ids[j]);
        assertArrayEquals(store.valueRow(1, ids[j]), slice(v, j), "value of row " + ids[j]);
      }
      assertEquals(4, keys.position(), "gather leaves the caller's position alone");
      assertArrayEquals(store.keyRow(0, 5), gatherOne(store, 0, 5), "layer 0 is its own");
    }
  }

  @Test
  void rowInTwoMicroBatchesAndRepeatedInOneReceivesTheSum() {
    try (BufferAllocator root = new RootAllocator(1 << 20);
        HostStore store = HostStore.allocate(root, 1, ROWS, DIM, 0.02f, 1)) {
      store.accumulateGradients(
          0, new int[] {3, 5}, 2, direct(new float[] {1, 2, 3, 4, 5, 6}), direct(new float[6]));
      store.accumulateGradients(
          0,
          new int[] {5, 7, 5},
          3,
          direct(new float[] {10, 20, 30, 1, 1, 1, 100, 200, 300}),
          direct(new float[] {0, 0, 1, 0, 0, 2, 0, 0, 3}));

      assertArrayEquals(new float[] {1, 2, 3}, store.keyGradientRow(0, 3));
      assertArrayEquals(new float[] {114, 225, 336}, store.keyGradientRow(0, 5));
      assertArrayEquals(new float[] {1, 1, 1}, store.keyGradientRow(0, 7));
      assertArrayEquals(new float[] {0, 0, 4}, store.valueGradientRow(0, 5));
      assertArrayEquals(new float[] {0, 0, 2}, store.valueGradientRow(0, 7));
      assertEquals(3, store.touchedRows(0));
    }
  }

  @Test
  void normScaleAndDiscardOnKnownValues() {
    try (BufferAllocator root = new RootAllocator(1 << 20);
        HostStore store = HostStore.allocate(root, 2, ROWS, DIM, 0.02f, 1)) {
      store.accumulateGradients(
          0, new int[] {2}, 1, direct(new float[] {1, 2, 2}), direct(new float[] {0, 3, 4}));
      store.accumulateGradients(
          1, new int[] {9}, 1, direct(new float[] {2, 0, 0}), direct(new float[] {0, 0, 0}));
      assertEquals(9 + 25 + 4, store.gradientSquaredNorm());

      store.scaleGradients(0.5f);
      assertEquals((9 + 25 + 4) / 4.0, store.gradientSquaredNorm());
      assertArrayEquals(new float[] {0.5f, 1, 1}, store.keyGradientRow(0, 2));
      assertArrayEquals(new float[] {0, 1.5f, 2}, store.valueGradientRow(0, 2));

      float[] keyBefore = store.keyRow(0, 2);
      store.discardGradients();
      assertEquals(0, store.touchedRows(0));
      assertEquals(0, store.touchedRows(1));
      assertEquals(0.0, store.gradientSquaredNorm());
      assertArrayEquals(new float[DIM], store.keyGradientRow(0, 2));
      assertArrayEquals(keyBefore, store.keyRow(0, 2), "a discarded step updates nothing");
      assertEquals(0, store.stepCount(0, 2));
      assertEquals(0, store.applyAdamW(1e-3f, 0.9f, 0.999f, 1e-8f, 0f));
    }
  }

  @Test
  void accumulationIsBitIdenticalAcrossThreadCounts() throws Exception {
    Random random = new Random(3);
    int count = 5000;
    int[] ids = new int[count];
    float[] grads = new float[count * DIM];
    for (int j = 0; j < count; j++) {
      ids[j] = random.nextInt(ROWS);
      for (int i = 0; i < DIM; i++) {
        grads[j * DIM + i] = (float) random.nextGaussian();
      }
    }
    float[][] byThreads = new float[3][];
    try (BufferAllocator root = new RootAllocator(1 << 20)) {
      for (int threads = 1; threads <= 3; threads++) {
        try (HostStore store = HostStore.allocate(root, 1, ROWS, DIM, 0.02f, 1)) {
          StoreTesting.onThreads(
              threads,
              () -> {
                store.accumulateGradients(0, ids, count, direct(grads), direct(grads));
                return null;
              });
          float[] all = new float[ROWS * DIM];
          for (int r = 0; r < ROWS; r++) {
            System.arraycopy(store.keyGradientRow(0, r), 0, all, r * DIM, DIM);
          }
          byThreads[threads - 1] = all;
        }
      }
    }
    assertArrayEquals(byThreads[0], byThreads[1]);
    assertArrayEquals(byThreads[0], byThreads[2]);
  }

  @Test
  void rejectsBadRowsAndBuffersBeforeChangingAnything() {
    try (BufferAllocator root = new RootAllocator(1 << 20);
        HostStore store = HostStore.allocate(root, 1, ROWS, DIM, 0.02f, 1)) {
      ByteBuffer two = direct(new float[2 * DIM]);
      assertThrows(
          IndexOutOfBoundsException.class,
          () -> store.accumulateGradients(0, new int[] {1, ROWS}, 2, two, two));
      assertEquals(0, store.touchedRows(0));
      assertArrayEquals(new float[DIM], store.keyGradientRow(0, 1));
      assertThrows(
          IllegalArgumentException.class,
          () -> store.gather(0, new int[] {1, 2, 3}, 3, two, direct(new float[3 * DIM])));
      ByteBuffer heap = ByteBuffer.allocate(2 * DIM * Float.BYTES);
      assertThrows(
          IllegalArgumentException.class, () -> store.gather(0, new int[] {1, 2}, 2, heap, two));
      ByteBuffer bigEndian = ByteBuffer.allocateDirect(2 * DIM * Float.BYTES);
      assertThrows(
          IllegalArgumentException.class,
          () -> store.gather(0, new int[] {1, 2}, 2, bigEndian, two));
      assertThrows(IndexOutOfBoundsException.class, () -> store.keyRow(1, 0));
      assertThrows(IllegalArgumentException.class, () -> store.keyMomentRow(0, 0, 3));
    }
  }

  private static float[] slice(float[] rowMajor, int row) {
    float[] out = new float[DIM];
    System.arraycopy(rowMajor, row * DIM, out, 0, DIM);
    return out;
  }

  private static float[] gatherOne(HostStore store, int layer, int row) {
    ByteBuffer k = direct(new float[DIM]);
    store.gather(layer, new int[] {row}, 1, k, direct(new float[DIM]));
    return floats(k, DIM);
  }
}
