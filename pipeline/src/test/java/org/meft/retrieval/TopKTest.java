package org.meft.retrieval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The heap's packed keys order pairs as {@link Float#compare} on the score, then the lower row, for
 * every special float; they decode to the same row and score; and the kept pairs equal a full
 * sort's first k, ties and duplicates included.
 */
class TopKTest {
  private static final float[] SCORES = {
    Float.NaN,
    Float.POSITIVE_INFINITY,
    Float.MAX_VALUE,
    1f,
    Float.MIN_NORMAL,
    Float.MIN_VALUE,
    0f,
    -0f,
    -Float.MIN_VALUE,
    -Float.MIN_NORMAL,
    -1f,
    -Float.MAX_VALUE,
    Float.NEGATIVE_INFINITY
  };
  private static final int[] ROWS = {0, 1, 7, 1 << 20, Integer.MAX_VALUE - 1};

  /** The order the keys must keep: a higher score as Float.compare, then a lower row. */
  private static boolean better(int rowA, float scoreA, int rowB, float scoreB) {
    int c = Float.compare(scoreA, scoreB);
    return c > 0 || (c == 0 && rowA < rowB);
  }

  @Test
  void keysOrderAsFloatCompareThenRow() {
    for (float a : SCORES) {
      for (int rowA : ROWS) {
        long keyA = TopK.key(rowA, a);
        assertEquals(rowA, TopK.row(keyA));
        assertEquals(Float.floatToIntBits(a), Float.floatToIntBits(TopK.score(keyA)));
        for (float b : SCORES) {
          for (int rowB : ROWS) {
            assertEquals(
                better(rowA, a, rowB, b),
                keyA > TopK.key(rowB, b),
                "(" + rowA + ", " + a + ") against (" + rowB + ", " + b + ")");
          }
        }
      }
    }
  }

  /** One at a time, and all at once (through the lower bound of the k-th best). */
  @ParameterizedTest(name = "all at once: {0}")
  @ValueSource(booleans = {false, true})
  void keepsWhatAFullSortPutsFirst(boolean allAtOnce) {
    Random random = new Random(5);
    for (int k : new int[] {1, 2, 5, 32, 64}) {
      for (int n : new int[] {0, 1, k - 1, k, k + 1, 2 * k, 2 * k + 1, 3 * k + 7, 600}) {
        TopK heap = new TopK(k);
        List<float[]> offered = new ArrayList<>(); // {row, score}
        long[] candidates = new long[Math.max(n, 0)];
        for (int i = 0; i < n; i++) {
          int row = random.nextInt(40); // repeated rows and, from small integers, equal scores
          float score =
              random.nextInt(4) == 0
                  ? SCORES[random.nextInt(SCORES.length)]
                  : random.nextInt(9) - 4;
          if (allAtOnce) {
            candidates[i] = TopK.key(row, score);
          } else {
            heap.offer(row, score);
          }
          offered.add(new float[] {row, score});
        }
        if (allAtOnce) {
          heap.offerAll(candidates, n);
        }
        offered.sort(
            Comparator.comparing((float[] p) -> p[1], Comparator.reverseOrder())
                .thenComparing(p -> p[0]));
        int[] rows = new int[k];
        float[] scores = new float[k];
        heap.drainSortedInto(rows, scores, 0);
        int[] expectedRows = new int[k];
        float[] expectedScores = new float[k];
        Arrays.fill(expectedRows, -1);
        Arrays.fill(expectedScores, Float.NEGATIVE_INFINITY);
        for (int i = 0; i < Math.min(k, n); i++) {
          expectedRows[i] = (int) offered.get(i)[0];
          expectedScores[i] = offered.get(i)[1];
        }
        assertArrayEquals(expectedRows, rows, "k " + k + ", n " + n);
        assertArrayEquals(expectedScores, scores, "k " + k + ", n " + n);
      }
    }
  }
}
