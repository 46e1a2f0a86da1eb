package org.meft.retrieval;

import java.util.Arrays;

/**
 * The k best (row, score) pairs offered so far: a bounded binary heap whose root is the worst kept
 * pair. "Better" is a higher score as {@link Float#compare} (NaN highest, -0.0 below 0.0), then a
 * lower row. Each pair is kept as one long whose signed order is that order ({@link #key}), so a
 * comparison is one instruction and a heap entry one load. Reused across tokens by one thread; no
 * objects per offer.
 */
final class TopK {
  private final long[] keys;
  private final long[] groupBest; // offerAll's scratch: the best key of each of k groups
  private int size;

  TopK(int k) {
    this.keys = new long[k];
    this.groupBest = new long[k];
  }

  void clear() {
    size = 0;
  }

  void offer(int row, float score) {
    offerKey(key(row, score));
  }

  /**
   * Offers {@code candidates[0, n)} ({@link #key}s). With many more than k of them, the least of
   * the bests of k disjoint groups (every k-th candidate) bounds the k-th best from below, since k
   * candidates reach it; only the candidates at or above it are offered, a small share in practice
   * (each rejected one costs one comparison instead of one against the heap's root and, for about k
   * ln(n / k) of them, a sift).
   */
  void offerAll(long[] candidates, int n) {
    int k = keys.length;
    if (n <= 2 * k) {
      for (int i = 0; i < n; i++) {
        offerKey(candidates[i]);
      }
      return;
    }
    Arrays.fill(groupBest, Long.MIN_VALUE);
    for (int i = 0, g = 0; i < n; i++) {
      if (candidates[i] > groupBest[g]) {
        groupBest[g] = candidates[i];
      }
      if (++g == k) {
        g = 0;
      }
    }
    long bound = Long.MAX_VALUE;
    for (long best : groupBest) {
      bound = Math.min(bound, best);
    }
    for (int i = 0; i < n; i++) {
      if (candidates[i] >= bound) {
        offerKey(candidates[i]);
      }
    }
  }

  private void offerKey(long key) {
    if (size < keys.length) {
      int i = size++;
      while (i > 0) {
        int parent = (i - 1) >>> 1;
        if (keys[parent] <= key) {
          break;
        }
        keys[i] = keys[parent];
        i = parent;
      }
      keys[i] = key;
    } else if (key > keys[0]) {
      siftDown(key, size);
    }
  }

  /**
   * Writes the kept pairs best first into {@code outRows, outScores [at, at + k)}, padding with row
   * -1 and score -Infinity, and empties the heap.
   */
  void drainSortedInto(int[] outRows, float[] outScores, int at) {
    int k = keys.length;
    for (int i = size; i < k; i++) {
      outRows[at + i] = -1;
      outScores[at + i] = Float.NEGATIVE_INFINITY;
    }
    while (size > 0) {
      int last = --size;
      outRows[at + last] = row(keys[0]);
      outScores[at + last] = score(keys[0]);
      if (last > 0) {
        siftDown(keys[last], last);
      }
    }
  }

  /** Places {@code key} at the root of the heap's first n entries and restores the order. */
  private void siftDown(long key, int n) {
    int i = 0;
    while (true) {
      int child = 2 * i + 1;
      if (child >= n) {
        break;
      }
      if (child + 1 < n && keys[child + 1] < keys[child]) {
        child++;
      }
      if (key <= keys[child]) {
        break;
      }
      keys[i] = keys[child];
      i = child;
    }
    keys[i] = key;
  }

  /**
   * (row, score) as a long ordered as "better": the score's bits made sortable as a signed int
   * (negative scores' magnitude bits flipped, NaN canonical above +Infinity) in the high half, and
   * {@code Integer.MAX_VALUE - row} (row >= 0) in the low half, so that a lower row ranks higher.
   */
  static long key(int row, float score) {
    int bits = Float.floatToIntBits(score);
    int sortable = bits ^ ((bits >> 31) & 0x7fffffff);
    return ((long) sortable << 32) | (Integer.MAX_VALUE - row);
  }

  static int row(long key) {
    return Integer.MAX_VALUE - (int) key;
  }

  static float score(long key) {
    int sortable = (int) (key >> 32);
    return Float.intBitsToFloat(sortable ^ ((sortable >> 31) & 0x7fffffff));
  }
}
