package org.meft.retrieval;

/**
 * The k best (row, score) pairs offered so far: a bounded binary heap in primitive arrays whose
 * root is the worst kept pair. "Better" is a higher score as {@link Float#compare}, then a lower
 * row. Reused across tokens by one thread; no objects per offer.
 */
final class TopK {
  private final int[] rows;
  private final float[] scores;
  private int size;

  TopK(int k) {
    this.rows = new int[k];
    this.scores = new float[k];
  }

  void clear() {
    size = 0;
  }

  void offer(int row, float score) {
    if (size < rows.length) {
      int i = size++;
      while (i > 0) {
        int parent = (i - 1) >>> 1;
        if (!better(rows[parent], scores[parent], row, score)) {
          break;
        }
        rows[i] = rows[parent];
        scores[i] = scores[parent];
        i = parent;
      }
      rows[i] = row;
      scores[i] = score;
    } else if (better(row, score, rows[0], scores[0])) {
      siftDown(row, score, size);
    }
  }

  /**
   * Writes the kept pairs best first into {@code outRows, outScores [at, at + k)}, padding with row
   * -1 and score -Infinity, and empties the heap.
   */
  void drainSortedInto(int[] outRows, float[] outScores, int at) {
    int k = rows.length;
    for (int i = size; i < k; i++) {
      outRows[at + i] = -1;
      outScores[at + i] = Float.NEGATIVE_INFINITY;
    }
    while (size > 0) {
      int last = --size;
      outRows[at + last] = rows[0];
      outScores[at + last] = scores[0];
      if (last > 0) {
        siftDown(rows[last], scores[last], last);
      }
    }
  }

  /** Places (row, score) at the root of the heap's first n entries and restores the order. */
  private void siftDown(int row, float score, int n) {
    int i = 0;
    while (true) {
      int child = 2 * i + 1;
      if (child >= n) {
        break;
      }
      if (child + 1 < n && better(rows[child], scores[child], rows[child + 1], scores[child + 1])) {
        child++;
      }
      if (!better(row, score, rows[child], scores[child])) {
        break;
      }
      rows[i] = rows[child];
      scores[i] = scores[child];
      i = child;
    }
    rows[i] = row;
    scores[i] = score;
  }

  /** Whether (rowA, scoreA) ranks before (rowB, scoreB). */
  static boolean better(int rowA, float scoreA, int rowB, float scoreB) {
    int c = Float.compare(scoreA, scoreB);
    return c > 0 || (c == 0 && rowA < rowB);
  }
}
