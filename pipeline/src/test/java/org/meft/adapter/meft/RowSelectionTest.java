package org.meft.adapter.meft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.Comparator;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** The capped row set against a direct reference: best score per row, sorted, cut, re-sorted. */
class RowSelectionTest {

  @Test
  void capKeepsTheBestScoringRowsWithTiesToTheLowerRow() {
    Random random = new Random(3);
    for (int trial = 0; trial < 200; trial++) {
      int n = 20 + random.nextInt(200);
      int choices = 1 + random.nextInt(300);
      int maxRows = 1 + random.nextInt(n);
      int[] rows = new int[choices];
      float[] scores = new float[choices];
      for (int i = 0; i < choices; i++) {
        rows[i] = random.nextInt(10) == 0 ? -1 : random.nextInt(n);
        // Few distinct values, both signs and zeros of both signs: ties are common.
        scores[i] = (random.nextInt(9) - 4) * 0.5f;
        if (scores[i] == 0 && random.nextBoolean()) {
          scores[i] = -0f;
        }
      }
      RowSelection selection = RowSelection.of(rows, scores, n, maxRows);
      int[] expected = reference(rows, scores, maxRows);
      assertArrayEquals(expected, selection.rows(), "trial " + trial);
      assertEquals(expected.length, selection.count());
      int made = 0;
      int kept = 0;
      for (int i = 0; i < choices; i++) {
        int j = selection.localIndex()[i];
        int position = rows[i] < 0 ? -1 : Arrays.binarySearch(expected, rows[i]);
        assertEquals(Math.max(position, -1), j, "choice " + i);
        made += rows[i] < 0 ? 0 : 1;
        kept += position < 0 ? 0 : 1;
      }
      // The meters' counts: choices made and kept, distinct rows before the cap.
      assertEquals(made, selection.made());
      assertEquals(kept, selection.kept());
      assertEquals(
          Arrays.stream(rows).filter(r -> r >= 0).distinct().count(), selection.distinct());
    }
  }

  private static int[] reference(int[] rows, float[] scores, int maxRows) {
    Map<Integer, Float> best = new TreeMap<>();
    for (int i = 0; i < rows.length; i++) {
      if (rows[i] >= 0) {
        best.merge(rows[i], scores[i], Math::max);
      }
    }
    return best.entrySet().stream()
        .sorted(
            Comparator.<Map.Entry<Integer, Float>>comparingDouble(e -> -e.getValue())
                .thenComparing(Map.Entry::getKey))
        .limit(maxRows)
        .mapToInt(Map.Entry::getKey)
        .sorted()
        .toArray();
  }
}
