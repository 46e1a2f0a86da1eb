package org.meft.adapter.meft;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * How a training pass's tokens go to the device under {@link TrainRows#ALL}: in consecutive groups,
 * each taking tokens in order while the union of their top-K rows fits maxRows. A token adds at
 * most K new rows, so every group but the last holds at least g = floor(maxRows / K) tokens, and a
 * pass of M tokens makes at most ceil(M / g) groups.
 *
 * @param bounds the first token of each group, then M
 * @param distinct the distinct rows the pass's tokens chose
 */
record TokenGroups(int[] bounds, int distinct) {

  /** Groups of a pass whose tokens chose {@code tokenRows} [M*K] (-1: no row). */
  static TokenGroups of(int[] tokenRows, int k, int adapterSize, int maxRows) {
    int m = tokenRows.length / k;
    int[] groupOfRow = new int[adapterSize]; // the last group that chose the row, -1: none yet
    Arrays.fill(groupOfRow, -1);
    List<Integer> bounds = new ArrayList<>(List.of(0));
    int group = 0;
    int union = 0;
    int distinct = 0;
    for (int t = 0; t < m; t++) {
      int added = newRows(tokenRows, t, k, groupOfRow, group);
      if (union + added > maxRows) {
        group++;
        bounds.add(t);
        union = 0;
        added = newRows(tokenRows, t, k, groupOfRow, group);
      }
      for (int i = t * k; i < (t + 1) * k; i++) {
        int row = tokenRows[i];
        if (row >= 0) {
          distinct += groupOfRow[row] < 0 ? 1 : 0;
          groupOfRow[row] = group;
        }
      }
      union += added;
    }
    bounds.add(m);
    return new TokenGroups(bounds.stream().mapToInt(Integer::intValue).toArray(), distinct);
  }

  /** Token t's rows (distinct within a token) not yet chosen in group {@code group}. */
  private static int newRows(int[] tokenRows, int t, int k, int[] groupOfRow, int group) {
    int added = 0;
    for (int i = t * k; i < (t + 1) * k; i++) {
      added += tokenRows[i] >= 0 && groupOfRow[tokenRows[i]] != group ? 1 : 0;
    }
    return added;
  }

  int count() {
    return bounds.length - 1;
  }

  int start(int group) {
    return bounds[group];
  }

  int end(int group) {
    return bounds[group + 1];
  }

  /**
   * {@code count} groups of {@code tokens} tokens, each bringing {@code rows} rows to the device
   * (S; K_S, V_S hold one more, the zero row).
   */
  record Shape(long count, long tokens, int rows) {}

  /**
   * The groups a pass of M tokens makes at most, each with every row it may hold: one group of
   * min(maxRows, M K) rows under {@link TrainRows#CAPPED}; under {@link TrainRows#ALL}, tokens
   * choosing rows no other token of their group chose, so that every group holds g = floor(maxRows
   * / K) tokens with g K rows (the last the remaining tokens). The planner's bound: a real pass's
   * tokens share rows and make fewer, fuller groups, holding fewer rows in all when maxRows is a
   * multiple of K.
   */
  static List<Shape> largest(long tokens, int k, int maxRows, TrainRows trainRows) {
    long perGroup = maxRows / k;
    if (trainRows == TrainRows.CAPPED || tokens <= perGroup) {
      return List.of(new Shape(1, tokens, (int) Math.min(maxRows, tokens * k)));
    }
    List<Shape> shapes = new ArrayList<>();
    shapes.add(new Shape(tokens / perGroup, perGroup, (int) (perGroup * k)));
    long rest = tokens % perGroup;
    if (rest > 0) {
      shapes.add(new Shape(1, rest, (int) (rest * k)));
    }
    return shapes;
  }
}
