package org.meft.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.meft.store.StoreTesting.direct;

import java.util.Arrays;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The sparse AdamW against a dense AdamW written here in double precision on plain arrays. */
class HostStoreAdamWTest {
  private static final int LAYERS = 2;
  private static final int ROWS = 37;
  private static final int DIM = 6;
  private static final float LR = 1e-2f;
  private static final float BETA1 = 0.9f;
  private static final float BETA2 = 0.999f;
  private static final float EPS = 1e-8f;
  private static final float WEIGHT_DECAY = 0.1f;

  /**
   * The dense reference: every tensor [param][layer][row][i] (param 0 keys, 1 values), each step
   * computed in double from the float32 state.
   */
  private static final class Reference {
    final double[][][][] p = new double[2][LAYERS][ROWS][DIM];
    final double[][][][] m = new double[2][LAYERS][ROWS][DIM];
    final double[][][][] v = new double[2][LAYERS][ROWS][DIM];
    final int[][] steps = new int[LAYERS][ROWS];

    void step(int layer, int row, double[][] g) {
      int t = ++steps[layer][row];
      for (int which = 0; which < 2; which++) {
        for (int i = 0; i < DIM; i++) {
          double[] pr = p[which][layer][row];
          double[] mr = m[which][layer][row];
          double[] vr = v[which][layer][row];
          pr[i] -= (double) LR * WEIGHT_DECAY * pr[i];
          mr[i] = BETA1 * mr[i] + (1 - (double) BETA1) * g[which][i];
          vr[i] = BETA2 * vr[i] + (1 - (double) BETA2) * g[which][i] * g[which][i];
          double mHat = mr[i] / (1 - Math.pow(BETA1, t));
          double vHat = vr[i] / (1 - Math.pow(BETA2, t));
          pr[i] -= LR * mHat / (Math.sqrt(vHat) + EPS);
          // The store keeps float32 between steps; without this, cancellation between steps
          // would measure float32 storage, not the update.
          pr[i] = (float) pr[i];
          mr[i] = (float) mr[i];
          vr[i] = (float) vr[i];
        }
      }
    }
  }

  @ParameterizedTest(name = "max chunk {0} bytes")
  @ValueSource(longs = {HostStore.MAX_CHUNK_BYTES, 5 * DIM * Float.BYTES})
  void sparseAdamWMatchesDenseReferenceAndLeavesUntouchedRowsBitIdentical(long maxChunk) {
    try (BufferAllocator root = new RootAllocator(1 << 20);
        HostStore store = HostStore.allocate(root, LAYERS, ROWS, DIM, 0.02f, 7, maxChunk)) {
      Reference ref = new Reference();
      for (int l = 0; l < LAYERS; l++) {
        for (int r = 0; r < ROWS; r++) {
          float[] key = store.keyRow(l, r);
          for (int i = 0; i < DIM; i++) {
            ref.p[0][l][r][i] = key[i];
          }
        }
      }
      Random random = new Random(11);
      double worst = 0;
      for (int step = 0; step < 3; step++) {
        int[][] before = snapshot(store, LAYERS);
        boolean[][] touched = new boolean[LAYERS][ROWS];
        int expectedUpdated = 0;
        for (int l = 0; l < LAYERS; l++) {
          int[] ids = randomSubset(random, ROWS / 2 + step * 3);
          float[] kg = gaussian(random, ids.length * DIM);
          float[] vg = gaussian(random, ids.length * DIM);
          store.accumulateGradients(l, ids, ids.length, direct(kg), direct(vg));
          for (int j = 0; j < ids.length; j++) {
            double[][] g = new double[2][DIM];
            for (int i = 0; i < DIM; i++) {
              g[0][i] = kg[j * DIM + i];
              g[1][i] = vg[j * DIM + i];
            }
            ref.step(l, ids[j], g);
            touched[l][ids[j]] = true;
          }
          expectedUpdated += ids.length;
          assertEquals(ids.length, store.touchedRows(l));
        }

        assertEquals(expectedUpdated, store.applyAdamW(LR, BETA1, BETA2, EPS, WEIGHT_DECAY));

        int[][] after = snapshot(store, LAYERS);
        for (int l = 0; l < LAYERS; l++) {
          assertEquals(0, store.touchedRows(l));
          for (int r = 0; r < ROWS; r++) {
            if (!touched[l][r]) {
              assertArrayEqualsBits(before[l * ROWS + r], after[l * ROWS + r], l, r);
              continue;
            }
            assertEquals(ref.steps[l][r], store.stepCount(l, r));
            worst = Math.max(worst, close(ref.p[0][l][r], store.keyRow(l, r)));
            worst = Math.max(worst, close(ref.p[1][l][r], store.valueRow(l, r)));
            worst = Math.max(worst, close(ref.m[0][l][r], store.keyMomentRow(l, r, 1)));
            worst = Math.max(worst, close(ref.v[0][l][r], store.keyMomentRow(l, r, 2)));
            worst = Math.max(worst, close(ref.m[1][l][r], store.valueMomentRow(l, r, 1)));
            worst = Math.max(worst, close(ref.v[1][l][r], store.valueMomentRow(l, r, 2)));
            assertEquals(0f, maxAbs(store.keyGradientRow(l, r)));
            assertEquals(0f, maxAbs(store.valueGradientRow(l, r)));
          }
        }
      }
      assertTrue(worst <= 1e-6, "worst relative difference " + worst);
      System.out.println("worst relative difference to the reference: " + worst);
      int maxSteps = 0;
      int minSteps = Integer.MAX_VALUE;
      for (int[] layerSteps : ref.steps) {
        for (int s : layerSteps) {
          maxSteps = Math.max(maxSteps, s);
          minSteps = Math.min(minSteps, s);
        }
      }
      assertTrue(maxSteps > 1 && minSteps < maxSteps, "per-row step counts differ");
    }
  }

  @Test
  void rejectsHyperparametersOutsideTorchRangesWithoutConsumingGradients() {
    try (BufferAllocator root = new RootAllocator(1 << 20);
        HostStore store = HostStore.allocate(root, 1, ROWS, DIM, 0.02f, 7)) {
      float[] g = new float[DIM];
      store.accumulateGradients(0, new int[] {4}, 1, direct(g), direct(g));
      assertThrows(
          IllegalArgumentException.class, () -> store.applyAdamW(-1e-3f, 0.9f, 0.999f, 0, 0));
      assertThrows(IllegalArgumentException.class, () -> store.applyAdamW(1e-3f, 1f, 0.999f, 0, 0));
      assertThrows(
          IllegalArgumentException.class, () -> store.applyAdamW(1e-3f, 0.9f, -0.1f, 0, 0));
      assertThrows(
          IllegalArgumentException.class,
          () -> store.applyAdamW(1e-3f, 0.9f, 0.999f, Float.NaN, 0));
      assertThrows(
          IllegalArgumentException.class, () -> store.applyAdamW(1e-3f, 0.9f, 0.999f, 0, -1));
      assertEquals(1, store.touchedRows(0));
      assertEquals(0, store.stepCount(0, 4));
    }
  }

  @Test
  void aStoreRestoredThroughTheRowAccessorsContinuesBitIdentically() {
    try (BufferAllocator root = new RootAllocator(1 << 20);
        HostStore original = HostStore.allocate(root, 1, ROWS, DIM, 0.02f, 7);
        HostStore restored = HostStore.allocate(root, 1, ROWS, DIM, 0.02f, 8)) {
      Random random = new Random(5);
      int[] first = {1, 2, 3};
      original.accumulateGradients(
          0, first, 3, direct(gaussian(random, 3 * DIM)), direct(gaussian(random, 3 * DIM)));
      original.applyAdamW(LR, BETA1, BETA2, EPS, WEIGHT_DECAY);
      for (int r = 0; r < ROWS; r++) {
        restored.setKeyRow(0, r, original.keyRow(0, r));
        restored.setValueRow(0, r, original.valueRow(0, r));
        for (int moment = 1; moment <= 2; moment++) {
          restored.setKeyMomentRow(0, r, moment, original.keyMomentRow(0, r, moment));
          restored.setValueMomentRow(0, r, moment, original.valueMomentRow(0, r, moment));
        }
        restored.setStepCount(0, r, original.stepCount(0, r));
      }
      int[] second = {2, 3, 4};
      float[] kg = gaussian(random, 3 * DIM);
      float[] vg = gaussian(random, 3 * DIM);
      for (HostStore store : new HostStore[] {original, restored}) {
        store.accumulateGradients(0, second, 3, direct(kg), direct(vg));
        store.applyAdamW(LR, BETA1, BETA2, EPS, WEIGHT_DECAY);
      }
      int[][] a = snapshot(original, 1);
      int[][] b = snapshot(restored, 1);
      for (int r = 0; r < ROWS; r++) {
        assertArrayEqualsBits(a[r], b[r], 0, r);
      }
    }
  }

  @Test
  void vectorAndPlainJavaUpdatesAreBitIdentical() {
    assertTrue(VectorApi.AVAILABLE, "the tests run with --add-modules jdk.incubator.vector");
    int dim = 1027; // a tail after the vector lanes
    Random random = new Random(13);
    StoreLayer.AdamWScratch vector = new StoreLayer.AdamWScratch(dim);
    StoreLayer.AdamWScratch plain = new StoreLayer.AdamWScratch(dim);
    for (int i = 0; i < dim; i++) {
      // Magnitudes from subnormal to large, zeros and signed zeros among them.
      float scale = (float) Math.pow(10, random.nextInt(50) - 40);
      float g = i % 17 == 0 ? (i % 34 == 0 ? -0f : 0f) : (float) random.nextGaussian() * scale;
      vector.g[i] = plain.g[i] = g;
      vector.w[i] = plain.w[i] = (float) random.nextGaussian();
      vector.m[i] = plain.m[i] = (float) random.nextGaussian() * scale;
      vector.v[i] = plain.v[i] = Math.abs((float) random.nextGaussian()) * scale * scale;
    }
    AdamW hyper = new AdamW(LR, BETA1, BETA2, EPS, WEIGHT_DECAY);
    for (int t = 1; t <= 3; t++) {
      double bias1 = 1 - Math.pow(BETA1, t);
      double bias2 = 1 - Math.pow(BETA2, t);
      StoreLayer.adamWInPlace(vector, hyper, LR, bias1, bias2);
      StoreLayer.scalarAdamW(
          plain, BETA1, BETA2, EPS, 1 - (double) LR * WEIGHT_DECAY, LR / bias1, Math.sqrt(bias2));
    }
    for (int i = 0; i < dim; i++) {
      assertEquals(Float.floatToRawIntBits(plain.w[i]), Float.floatToRawIntBits(vector.w[i]), "w");
      assertEquals(Float.floatToRawIntBits(plain.m[i]), Float.floatToRawIntBits(vector.m[i]), "m");
      assertEquals(Float.floatToRawIntBits(plain.v[i]), Float.floatToRawIntBits(vector.v[i]), "v");
    }
  }

  /** Relative difference |a - r| / |r| (absolute below 1e-12), elementwise maximum. */
  private static double close(double[] reference, float[] actual) {
    double worst = 0;
    for (int i = 0; i < reference.length; i++) {
      double diff = Math.abs(actual[i] - reference[i]);
      worst = Math.max(worst, diff / Math.max(Math.abs(reference[i]), 1e-12));
    }
    return worst;
  }

  /** Raw bits of every row's key, value, four moments and step count, [layer * rows + row]. */
  private static int[][] snapshot(HostStore store, int layers) {
    int[][] out = new int[layers * ROWS][];
    for (int l = 0; l < layers; l++) {
      for (int r = 0; r < ROWS; r++) {
        float[][] parts = {
          store.keyRow(l, r),
          store.valueRow(l, r),
          store.keyMomentRow(l, r, 1),
          store.keyMomentRow(l, r, 2),
          store.valueMomentRow(l, r, 1),
          store.valueMomentRow(l, r, 2)
        };
        int[] bits = new int[parts.length * DIM + 1];
        for (int q = 0; q < parts.length; q++) {
          for (int i = 0; i < DIM; i++) {
            bits[q * DIM + i] = Float.floatToRawIntBits(parts[q][i]);
          }
        }
        bits[parts.length * DIM] = store.stepCount(l, r);
        out[l * ROWS + r] = bits;
      }
    }
    return out;
  }

  private static void assertArrayEqualsBits(int[] expected, int[] actual, int layer, int row) {
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], actual[i], "untouched layer " + layer + " row " + row + " #" + i);
    }
  }

  private static int[] randomSubset(Random random, int size) {
    int[] all = new int[ROWS];
    for (int i = 0; i < ROWS; i++) {
      all[i] = i;
    }
    for (int i = 0; i < size; i++) {
      int j = i + random.nextInt(ROWS - i);
      int swap = all[i];
      all[i] = all[j];
      all[j] = swap;
    }
    return Arrays.copyOf(all, size);
  }

  private static float[] gaussian(Random random, int n) {
    float[] out = new float[n];
    for (int i = 0; i < n; i++) {
      out[i] = (float) random.nextGaussian();
    }
    return out;
  }

  private static float maxAbs(float[] values) {
    float max = 0;
    for (float x : values) {
      max = Math.max(max, Math.abs(x));
    }
    return max;
  }
}
