package org.meft.adapter.meft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Keys from tokens: each expert's rows come from one cluster of the tokens, at a random key's norm.
 */
class TokenKeysTest {
  private static final int DIM = 16;

  /** Tokens around two opposite directions, far apart, interleaved. */
  private static float[] twoClusters(int count, Random random) {
    float[] h = new float[count * DIM];
    for (int t = 0; t < count; t++) {
      float sign = t % 2 == 0 ? 1 : -1;
      for (int i = 0; i < DIM; i++) {
        float centre = i < DIM / 2 ? 3 * sign : 0;
        h[t * DIM + i] = centre + (float) random.nextGaussian() * 0.3f;
      }
    }
    return h;
  }

  private static double cosine(float[] keys, int row, float[] direction) {
    double dot = 0;
    double a = 0;
    double b = 0;
    for (int i = 0; i < DIM; i++) {
      dot += keys[row * DIM + i] * direction[i];
      a += keys[row * DIM + i] * keys[row * DIM + i];
      b += direction[i] * direction[i];
    }
    return dot / Math.sqrt(a * b);
  }

  @Test
  void eachExpertsRowsFaceOneClusterAtARandomKeysNorm() {
    int rows = 40;
    float keyInit = 0.02f;
    float[] keys = TokenKeys.fit(twoClusters(200, new Random(5)), 200, DIM, rows, 2, keyInit, 7);
    float[] up = new float[DIM];
    for (int i = 0; i < DIM / 2; i++) {
      up[i] = 1;
    }
    double firstExpert = Math.signum(cosine(keys, 0, up));
    for (int row = 0; row < rows; row++) {
      double norm = 0;
      for (int i = 0; i < DIM; i++) {
        norm += keys[row * DIM + i] * keys[row * DIM + i];
      }
      assertEquals(keyInit * Math.sqrt(DIM), Math.sqrt(norm), 1e-6, "row " + row);
      double expected = row < rows / 2 ? firstExpert : -firstExpert;
      double c = cosine(keys, row, up);
      assertTrue(c * expected > 0.75, "row " + row + " cosine " + c);
    }
  }

  @Test
  void kMeansSeparatesTheClusters() {
    float[] h = twoClusters(100, new Random(9));
    double[] unit = new double[h.length];
    for (int i = 0; i < h.length; i++) {
      unit[i] = h[i];
    }
    int[] cluster = TokenKeys.kMeans(unit, 100, DIM, 2, new java.util.SplittableRandom(3));
    for (int t = 2; t < 100; t++) {
      assertEquals(cluster[t % 2], cluster[t], "token " + t);
    }
    assertTrue(cluster[0] != cluster[1]);
  }

  @Test
  void noTokensIsAClearError() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> TokenKeys.fit(new float[0], 0, DIM, 8, 2, 1, 1));
    assertTrue(e.getMessage().contains("key-source tokens"), e.getMessage());
  }
}
