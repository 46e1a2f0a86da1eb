package org.meft.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The compact encodings against float32: bf16 rounding's bias (stochastic against nearest) and the
 * error of the blockwise int8 moments.
 */
class CompactRowsTest {
  @Test
  void bf16ValuesSurviveEveryRoundingUnchanged() {
    Random random = new Random(1);
    for (int i = 0; i < 10_000; i++) {
      short bits = (short) random.nextInt(1 << 16);
      float x = Bf16.widen(bits);
      if (Float.isNaN(x)) {
        continue;
      }
      assertEquals(bits, Bf16.nearest(x));
      assertEquals(bits, Bf16.stochastic(x, random.nextInt()));
    }
    assertEquals(Bf16.nearest(1f + 1f / 256), Bf16.nearest(1f), "a tie rounds to even");
  }

  /**
   * Many small updates of one weight, each far below half a bf16 step at its size (2^-8 near 1):
   * round-to-nearest drops every one, stochastic rounding keeps their sum in expectation. Measured
   * bias, relative to the f32 sum of the updates, over 200 weights: printed and bounded.
   */
  @Test
  void stochasticRoundingKeepsUpdatesBelowHalfAStep() {
    int weights = 200;
    int steps = 1000;
    float delta = 1e-4f; // 1/39 of a bf16 step at 1.0
    double f32Sum = 0;
    double nearestSum = 0;
    double stochasticSum = 0;
    for (int w = 0; w < weights; w++) {
      float f32 = 1f;
      float nearest = 1f;
      float stochastic = 1f;
      for (int s = 0; s < steps; s++) {
        f32 += delta;
        nearest = Bf16.widen(Bf16.nearest(nearest + delta));
        long noise = Bf16.mix(((long) w << 32) | s);
        stochastic = Bf16.widen(Bf16.stochastic(stochastic + delta, (int) noise));
      }
      f32Sum += f32 - 1;
      nearestSum += nearest - 1;
      stochasticSum += stochastic - 1;
    }
    double nearestBias = (nearestSum - f32Sum) / f32Sum;
    double stochasticBias = (stochasticSum - f32Sum) / f32Sum;
    System.out.printf(
        "bf16 write-back bias over %d weights x %d updates of %.0e: nearest %.4f, stochastic"
            + " %.4f (relative to the f32 sum of the updates)%n",
        weights, steps, delta, nearestBias, stochasticBias);
    assertEquals(-1, nearestBias, 1e-9, "round-to-nearest drops every update");
    assertTrue(Math.abs(stochasticBias) < 0.02, "stochastic bias " + stochasticBias);
  }

  /** The expectation of one stochastic rounding is the value: mean error over many draws. */
  @Test
  void oneStochasticRoundingIsUnbiased() {
    Random random = new Random(2);
    double bias = 0;
    double spacing = 0;
    int draws = 4096;
    int values = 50;
    for (int v = 0; v < values; v++) {
      float x = (float) (random.nextGaussian() * 0.02);
      double sum = 0;
      for (int d = 0; d < draws; d++) {
        sum += Bf16.widen(Bf16.stochastic(x, random.nextInt()));
      }
      float ulp = Math.ulp(Bf16.widen(Bf16.nearest(x))) * (1 << 16);
      bias += Math.abs(sum / draws - x) / ulp;
      spacing = Math.max(spacing, ulp);
    }
    double meanBias = bias / values;
    System.out.printf("bf16 stochastic rounding: mean |bias| %.4f of a bf16 step%n", meanBias);
    // The standard error of a mean of 4096 draws is at most 0.5 / 64 of a step.
    assertTrue(meanBias < 0.02, "mean |bias| " + meanBias + " of a step");
  }

  /**
   * int8 moments: every element decodes within half the widest gap of the dynamic map times its
   * block's scale, for values spread over six decades (a second moment's range).
   */
  @Test
  void int8MomentErrorIsBoundedByTheBlockScale() {
    int dim = 600; // three blocks, the last one short
    Random random = new Random(3);
    for (DynamicMap map : new DynamicMap[] {DynamicMap.SIGNED, DynamicMap.UNSIGNED}) {
      float widest = 0;
      for (int i = 1; i < 256; i++) {
        widest = Math.max(widest, map.values[i] - map.values[i - 1]);
      }
      try (org.apache.arrow.memory.BufferAllocator allocator =
              new org.apache.arrow.memory.RootAllocator(1 << 20);
          Int8Rows rows =
              new Int8Rows(
                  RowTensor.allocateZeroed(allocator, 4, dim, 1, Integer.MAX_VALUE),
                  RowTensor.allocateZeroed(allocator, 4, Int8Rows.blocks(dim), Integer.MAX_VALUE),
                  map)) {
        float[] x = new float[dim];
        for (int i = 0; i < dim; i++) {
          double magnitude = Math.pow(10, -6 * random.nextDouble());
          x[i] =
              (float) (map == DynamicMap.SIGNED && random.nextBoolean() ? -magnitude : magnitude);
        }
        rows.put(2, x, 0);
        float[] y = new float[dim];
        rows.get(2, y, 0);
        double worst = 0;
        double relative = 0;
        for (int i = 0; i < dim; i++) {
          int from = i / Int8Rows.BLOCK * Int8Rows.BLOCK;
          float scale = 0;
          for (int j = from; j < Math.min(dim, from + Int8Rows.BLOCK); j++) {
            scale = Math.max(scale, Math.abs(x[j]));
          }
          worst = Math.max(worst, Math.abs(x[i] - y[i]) / scale);
          relative += Math.abs(x[i] - y[i]) / Math.abs(x[i]);
        }
        System.out.printf(
            "int8 %s moments: worst error %.5f of the block scale (bound %.5f), mean relative"
                + " error %.4f%n",
            map == DynamicMap.SIGNED ? "signed" : "unsigned", worst, widest / 2, relative / dim);
        assertTrue(worst <= widest / 2 * 1.0001, "worst " + worst);
        float[] zero = new float[dim];
        rows.get(0, zero, 0);
        assertEquals(0f, maxAbs(zero), "a fresh row decodes to zero");
      }
    }
  }

  private static float maxAbs(float[] a) {
    float m = 0;
    for (float x : a) {
      m = Math.max(m, Math.abs(x));
    }
    return m;
  }
}
