package org.meft.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.meft.store.StoreTesting.direct;

import java.util.stream.Stream;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The values' own learning rate against AdamW written here in double precision, with each row's
 * rate worked out from {@link StoreRate}'s formula (keys at a multiple of the run's rate, frozen at
 * 0): row r is chosen every (r + 1)-th step, so the rows take different numbers of updates and the
 * frequency factor differs between them.
 */
class StoreRateTest {
  private static final int ROWS = 8;
  private static final int DIM = 4;
  private static final int STEPS = 40;
  private static final float PEAK = 1e-2f;
  private static final float BETA1 = 0.9f;
  private static final float BETA2 = 0.999f;
  private static final float EPS = 1e-8f;
  private static final float DECAY = 0.05f;

  static Stream<Arguments> rates() {
    return Stream.of(
        Arguments.of(StoreRate.RUN),
        Arguments.of(new StoreRate(1f, 3f, StoreRate.Schedule.CONSTANT, StoreRate.Frequency.NONE)),
        Arguments.of(new StoreRate(0.25f, 0.5f, StoreRate.Schedule.RUN, StoreRate.Frequency.SQRT)),
        Arguments.of(new StoreRate(0f, 2f, StoreRate.Schedule.CONSTANT, StoreRate.Frequency.SQRT)));
  }

  /** A run's rate at step s (from 1): a made-up decay, so that RUN and CONSTANT differ. */
  private static float runLr(int s) {
    return PEAK / (1 + 0.1f * s);
  }

  private static float gradient(int step, int row, int i, int which) {
    return (float) Math.sin(1.7 * step + 0.9 * row + 0.3 * i + which);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("rates")
  void eachRowMovesAtItsRateAsAPlainAdamWComputesIt(StoreRate rate) {
    double[][][] p = new double[2][ROWS][DIM];
    double[][][] m = new double[2][ROWS][DIM];
    double[][][] v = new double[2][ROWS][DIM];
    int[] t = new int[ROWS];
    try (BufferAllocator root = new RootAllocator(1 << 20);
        HostStore store = HostStore.allocate(root, 1, ROWS, DIM, 0.5f, 3)) {
      for (int r = 0; r < ROWS; r++) {
        float[] key = store.keyRow(0, r);
        for (int i = 0; i < DIM; i++) {
          p[0][r][i] = key[i];
        }
      }
      for (int s = 1; s <= STEPS; s++) {
        for (int r = 0; r < ROWS; r++) {
          if (s % (r + 1) != 0) {
            continue;
          }
          float[] kg = new float[DIM];
          float[] vg = new float[DIM];
          for (int i = 0; i < DIM; i++) {
            kg[i] = gradient(s, r, i, 0);
            vg[i] = gradient(s, r, i, 1);
          }
          store.accumulateGradients(0, new int[] {r}, 1, direct(kg), direct(vg));
          t[r]++;
          double base =
              rate.valueScale() * (rate.schedule() == StoreRate.Schedule.RUN ? runLr(s) : PEAK);
          double factor =
              rate.frequency() == StoreRate.Frequency.SQRT
                  ? Math.min(10, Math.sqrt((double) s / t[r]))
                  : 1;
          for (int which = 0; which < 2; which++) {
            double lr = which == 1 ? base * factor : rate.keyScale() * (double) runLr(s);
            for (int i = 0; i < DIM; i++) {
              double g = which == 0 ? kg[i] : vg[i];
              p[which][r][i] = (float) (p[which][r][i] * (1 - lr * DECAY));
              m[which][r][i] = (float) (BETA1 * m[which][r][i] + (1 - (double) BETA1) * g);
              v[which][r][i] = (float) (BETA2 * v[which][r][i] + (1 - (double) BETA2) * g * g);
              double mHat = m[which][r][i] / (1 - Math.pow(BETA1, t[r]));
              double vHat = v[which][r][i] / (1 - Math.pow(BETA2, t[r]));
              p[which][r][i] = (float) (p[which][r][i] - lr * mHat / (Math.sqrt(vHat) + EPS));
            }
          }
        }
        store.applyAdamW(rate, runLr(s), PEAK, s, BETA1, BETA2, EPS, DECAY);
      }
      double worst = 0;
      for (int r = 0; r < ROWS; r++) {
        assertEquals(t[r], store.stepCount(0, r));
        float[] key = store.keyRow(0, r);
        float[] value = store.valueRow(0, r);
        for (int i = 0; i < DIM; i++) {
          worst = Math.max(worst, Math.abs(key[i] - p[0][r][i]) / (1e-3 + Math.abs(p[0][r][i])));
          worst = Math.max(worst, Math.abs(value[i] - p[1][r][i]) / (1e-3 + Math.abs(p[1][r][i])));
        }
      }
      assertTrue(worst < 1e-5, "worst relative difference " + worst);
    }
  }

  /** StoreRate.RUN is the plain update: the run's rate for every row, bit for bit. */
  @Test
  void theRunRateIsThePlainUpdateBitForBit() {
    try (BufferAllocator root = new RootAllocator(1 << 20);
        HostStore plain = HostStore.allocate(root, 1, ROWS, DIM, 0.5f, 3);
        HostStore ruled = HostStore.allocate(root, 1, ROWS, DIM, 0.5f, 3)) {
      for (int s = 1; s <= 5; s++) {
        for (HostStore store : new HostStore[] {plain, ruled}) {
          float[] g = new float[ROWS * DIM];
          for (int j = 0; j < g.length; j++) {
            g[j] = gradient(s, j / DIM, j % DIM, 0);
          }
          int[] all = {0, 1, 2, 3, 4, 5, 6, 7};
          store.accumulateGradients(0, all, ROWS, direct(g), direct(g));
        }
        plain.applyAdamW(runLr(s), BETA1, BETA2, EPS, DECAY);
        ruled.applyAdamW(StoreRate.RUN, runLr(s), PEAK, s, BETA1, BETA2, EPS, DECAY);
      }
      for (int r = 0; r < ROWS; r++) {
        float[] a = plain.valueRow(0, r);
        float[] b = ruled.valueRow(0, r);
        for (int i = 0; i < DIM; i++) {
          assertEquals(Float.floatToRawIntBits(a[i]), Float.floatToRawIntBits(b[i]));
        }
      }
    }
  }

  @Test
  void theFrequencyFactorIsCappedAndOneForARowChosenEveryStep() {
    StoreRate sqrt = new StoreRate(1f, 1f, StoreRate.Schedule.RUN, StoreRate.Frequency.SQRT);
    assertEquals(1.0, sqrt.frequencyFactor(50, 50));
    assertEquals(2.0, sqrt.frequencyFactor(400, 100), 1e-12);
    assertEquals(StoreRate.FREQUENCY_CAP, sqrt.frequencyFactor(2000, 1));
    assertEquals(1.0, StoreRate.RUN.frequencyFactor(2000, 1));
  }
}
