package org.meft.adapter.meft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The groups of a training pass against their definition, on random choices: consecutive tokens
 * covering the pass, each group's union within maxRows, a group closed only when the next token's
 * rows would not fit, so at most ceil(M / floor(maxRows / K)) groups; and the planner's largest
 * groups hold at least the rows of the real ones.
 */
class TokenGroupsTest {

  @Test
  void groupsAreTheLongestRunsWhoseUnionFits() {
    Random random = new Random(5);
    for (int trial = 0; trial < 300; trial++) {
      int n = 16 + random.nextInt(300);
      int k = 1 + random.nextInt(Math.min(n, 12));
      int maxRows = k + random.nextInt(n - k + 1);
      int m = 1 + random.nextInt(80);
      int[] rows = choices(random, m, k, n);
      TokenGroups groups = TokenGroups.of(rows, k, n, maxRows);
      String what = "trial " + trial;

      assertEquals(0, groups.start(0), what);
      assertEquals(m, groups.end(groups.count() - 1), what);
      Set<Integer> all = new HashSet<>();
      long rowsHeld = 0;
      for (int g = 0; g < groups.count(); g++) {
        Set<Integer> union = union(rows, k, groups.start(g), groups.end(g));
        assertTrue(union.size() <= maxRows, what + ": group " + g + " holds " + union.size());
        if (g + 1 < groups.count()) {
          assertTrue(
              union(rows, k, groups.start(g), groups.end(g) + 1).size() > maxRows,
              what + ": group " + g + " had room for the next token");
        }
        all.addAll(union);
        rowsHeld += union.size();
      }
      assertEquals(all.size(), groups.distinct(), what);
      int perGroup = maxRows / k;
      assertTrue(groups.count() <= (m + perGroup - 1) / perGroup, what + ": too many groups");

      long planned = 0;
      long tokens = 0;
      List<TokenGroups.Shape> largest = TokenGroups.largest(m, k, maxRows, TrainRows.ALL);
      for (TokenGroups.Shape shape : largest) {
        assertTrue(shape.rows() <= maxRows, what);
        planned += shape.count() * shape.rows();
        tokens += shape.count() * shape.tokens();
      }
      assertEquals(m, tokens, what);
      assertTrue(
          rowsHeld <= planned, what + ": " + rowsHeld + " rows held, " + planned + " planned");
    }
  }

  /** M tokens' top K: distinct rows per token, some padding (-1) tokens. */
  private static int[] choices(Random random, int m, int k, int n) {
    int[] rows = new int[m * k];
    for (int t = 0; t < m; t++) {
      Set<Integer> own = new HashSet<>();
      // Rows from a narrow window now and then, so that tokens share rows.
      int window = random.nextBoolean() ? n : Math.max(k, n / 8);
      for (int i = 0; i < k; i++) {
        int row;
        do {
          row = random.nextInt(window);
        } while (!own.add(row));
        rows[t * k + i] = random.nextInt(20) == 0 ? -1 : row;
      }
    }
    return rows;
  }

  private static Set<Integer> union(int[] rows, int k, int from, int to) {
    Set<Integer> union = new HashSet<>();
    for (int i = from * k; i < to * k; i++) {
      if (rows[i] >= 0) {
        union.add(rows[i]);
      }
    }
    return union;
  }
}
