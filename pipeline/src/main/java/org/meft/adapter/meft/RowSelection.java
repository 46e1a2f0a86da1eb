package org.meft.adapter.meft;

import java.util.Arrays;

/**
 * The rows S one group of tokens moves to the device in one layer: the union of its tokens' top-K
 * rows, capped at maxRows by each row's best score over the tokens that chose it, in ascending row
 * order (the cap binds only the single group of {@link TrainRows#CAPPED}).
 *
 * @param rows S rows, ascending
 * @param count |S|
 * @param localIndex for each (token, k) choice, its index j in S, or -1 when its row was capped out
 * @param distinct the distinct rows the tokens chose, before the cap
 * @param made the (token, row) choices, padding (row -1) excluded
 * @param kept those of them whose row is in S
 */
record RowSelection(int[] rows, int count, int[] localIndex, int distinct, int made, int kept) {

  static RowSelection of(int[] tokenRows, float[] tokenScores, int adapterSize, int maxRows) {
    float[] best = new float[adapterSize];
    Arrays.fill(best, Float.NEGATIVE_INFINITY);
    boolean[] chosen = new boolean[adapterSize];
    int distinct = 0;
    for (int i = 0; i < tokenRows.length; i++) {
      int row = tokenRows[i];
      if (row < 0) {
        continue;
      }
      if (!chosen[row]) {
        chosen[row] = true;
        distinct++;
      }
      best[row] = Math.max(best[row], tokenScores[i]);
    }
    int[] candidates = new int[distinct];
    for (int row = 0, c = 0; row < adapterSize; row++) {
      if (chosen[row]) {
        candidates[c++] = row;
      }
    }
    int[] rows = candidates;
    if (distinct > maxRows) {
      // Keep the maxRows rows with the highest best score (ties: lower row id), then re-sort by
      // row. Each key orders by descending score in its high half and ascending row in its low.
      long[] keys = new long[distinct];
      for (int c = 0; c < distinct; c++) {
        int bits = Float.floatToIntBits(best[candidates[c]]);
        int ascending = bits ^ ((bits >> 31) & 0x7fffffff); // int order = float order
        keys[c] = ((long) ~ascending << 32) | candidates[c];
      }
      Arrays.sort(keys);
      rows = new int[maxRows];
      for (int j = 0; j < maxRows; j++) {
        rows[j] = (int) keys[j];
      }
      Arrays.sort(rows);
    }
    int[] positionOfRow = new int[adapterSize];
    Arrays.fill(positionOfRow, -1);
    for (int j = 0; j < rows.length; j++) {
      positionOfRow[rows[j]] = j;
    }
    int[] localIndex = new int[tokenRows.length];
    int made = 0;
    int kept = 0;
    for (int i = 0; i < tokenRows.length; i++) {
      localIndex[i] = tokenRows[i] < 0 ? -1 : positionOfRow[tokenRows[i]];
      made += tokenRows[i] < 0 ? 0 : 1;
      kept += localIndex[i] < 0 ? 0 : 1;
    }
    return new RowSelection(rows, rows.length, localIndex, distinct, made, kept);
  }
}
