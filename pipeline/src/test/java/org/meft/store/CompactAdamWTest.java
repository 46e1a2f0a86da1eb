package org.meft.store;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.meft.store.StoreTesting.direct;

import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * The sparse AdamW on compact stores against a dense AdamW in double on plain arrays: the same
 * gradients for 200 steps, each row drawn in about half of them, values and trained keys. The
 * distance of the store's weights from the reference's, relative to how far the reference moved.
 */
class CompactAdamWTest {
  private static final int ROWS = 24;
  private static final int DIM = 384; // an int8 block of 256 and a short one
  private static final int STEPS = 200;
  private static final float LR = 1e-3f;
  private static final float BETA1 = 0.9f;
  private static final float BETA2 = 0.999f;
  private static final float EPS = 1e-8f;
  private static final float WEIGHT_DECAY = 0.01f;

  @Test
  void compactStoresFollowTheDenseReference() {
    double f32 = distance(new StoreFormat(StoreDtype.F32, StoreMoments.F32, true));
    double int8 = distance(new StoreFormat(StoreDtype.F32, StoreMoments.INT8, true));
    double bf16 = distance(new StoreFormat(StoreDtype.BF16, StoreMoments.F32, true));
    double both = distance(new StoreFormat(StoreDtype.BF16, StoreMoments.INT8, true));
    System.out.printf(
        "AdamW after %d steps, |w - w_ref| / |w_ref - w_0|: f32 %.2e, int8 moments %.4f, bf16"
            + " rows %.4f, both %.4f%n",
        STEPS, f32, int8, bf16, both);
    assertTrue(f32 < 1e-5, "f32 " + f32);
    assertTrue(int8 < 0.02, "int8 moments " + int8);
    assertTrue(bf16 < 0.05, "bf16 rows " + bf16);
    assertTrue(both < 0.05, "both " + both);
  }

  /** Runs the store and the reference on the same gradients; returns their relative distance. */
  private static double distance(StoreFormat format) {
    double[][][] w = new double[2][ROWS][DIM]; // [key, value][row][i]
    double[][][] m = new double[2][ROWS][DIM];
    double[][][] v = new double[2][ROWS][DIM];
    double[][][] w0 = new double[2][ROWS][DIM];
    int[] t = new int[ROWS];
    Random random = new Random(7);
    try (BufferAllocator root = new RootAllocator(64L << 20);
        HostStore store = HostStore.allocate(root, 1, ROWS, DIM, format, 0.02f, 3)) {
      for (int r = 0; r < ROWS; r++) {
        float[] key = store.keyRow(0, r);
        float[] value = new float[DIM];
        for (int i = 0; i < DIM; i++) {
          value[i] = (float) (0.05 * random.nextGaussian());
        }
        store.setValueRow(0, r, value);
        value = store.valueRow(0, r); // as the store holds it
        for (int i = 0; i < DIM; i++) {
          w[0][r][i] = w0[0][r][i] = key[i];
          w[1][r][i] = w0[1][r][i] = value[i];
        }
      }
      for (int step = 0; step < STEPS; step++) {
        int[] ids = new int[ROWS];
        int count = 0;
        for (int r = 0; r < ROWS; r++) {
          if (random.nextBoolean()) {
            ids[count++] = r;
          }
        }
        float[][] g = new float[2][count * DIM];
        for (int j = 0; j < count; j++) {
          double scale = Math.pow(10, -3 * (ids[j] % 4) / 3.0); // rows of four gradient scales
          for (int i = 0; i < DIM; i++) {
            g[0][j * DIM + i] = (float) (scale * random.nextGaussian());
            g[1][j * DIM + i] = (float) (scale * (0.3 + random.nextGaussian()));
          }
        }
        store.accumulateGradients(0, ids, count, direct(g[0]), direct(g[1]));
        store.applyAdamW(LR, BETA1, BETA2, EPS, WEIGHT_DECAY);
        for (int j = 0; j < count; j++) {
          int r = ids[j];
          int tr = ++t[r];
          for (int p = 0; p < 2; p++) {
            for (int i = 0; i < DIM; i++) {
              double gi = g[p][j * DIM + i];
              w[p][r][i] -= (double) LR * WEIGHT_DECAY * w[p][r][i];
              m[p][r][i] = BETA1 * m[p][r][i] + (1 - (double) BETA1) * gi;
              v[p][r][i] = BETA2 * v[p][r][i] + (1 - (double) BETA2) * gi * gi;
              double mHat = m[p][r][i] / (1 - Math.pow(BETA1, tr));
              double vHat = v[p][r][i] / (1 - Math.pow(BETA2, tr));
              w[p][r][i] -= LR * mHat / (Math.sqrt(vHat) + EPS);
            }
          }
        }
      }
      double off = 0;
      double moved = 0;
      for (int r = 0; r < ROWS; r++) {
        float[][] got = {store.keyRow(0, r), store.valueRow(0, r)};
        for (int p = 0; p < 2; p++) {
          for (int i = 0; i < DIM; i++) {
            off += Math.pow(got[p][i] - w[p][r][i], 2);
            moved += Math.pow(w[p][r][i] - w0[p][r][i], 2);
          }
        }
      }
      return Math.sqrt(off / moved);
    }
  }
}
