package org.meft.retrieval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.meft.store.HostStore;
import org.meft.store.StoreTesting;

/** Key-Experts retrieval against a brute-force reference: score every probed row, sort. */
class KeyRetrievalTest {

  /** A token's probes: expert ids and router scores, [tokens, probes] row-major. */
  private record Probes(int[] experts, float[] scores) {}

  /** The reference: every row of the probed experts scored in double, sorted, padded. */
  private static KeyRetrieval.Result bruteForce(
      HostStore store, float[] h, int tokens, Probes probes, int p, int experts, int k) {
    int rows = store.rows();
    int dim = store.dim();
    int perExpert = (rows + experts - 1) / experts;
    int[] outRows = new int[tokens * k];
    float[] outScores = new float[tokens * k];
    for (int t = 0; t < tokens; t++) {
      List<double[]> candidates = new ArrayList<>();
      for (int q = 0; q < p; q++) {
        int e = probes.experts[t * p + q];
        for (int row = e * perExpert; row < Math.min(rows, (e + 1) * perExpert); row++) {
          float[] key = store.keyRow(0, row);
          double dot = 0;
          for (int i = 0; i < dim; i++) {
            dot += (double) h[t * dim + i] * key[i];
          }
          double score = probes.scores[t * p + q] * dot;
          candidates.add(new double[] {score == 0 ? 0 : score, row});
        }
      }
      candidates.sort(
          Comparator.<double[]>comparingDouble(c -> -c[0]).thenComparingDouble(c -> c[1]));
      for (int j = 0; j < k; j++) {
        boolean real = j < candidates.size();
        outRows[t * k + j] = real ? (int) candidates.get(j)[1] : -1;
        outScores[t * k + j] = real ? (float) candidates.get(j)[0] : Float.NEGATIVE_INFINITY;
      }
    }
    return new KeyRetrieval.Result(outRows, outScores, k);
  }

  @Test
  void matchesBruteForceWhenRowsDoNotDivideIntoExperts() {
    int rows = 103;
    int dim = 16;
    int experts = 10;
    int tokens = 50;
    int p = 3;
    int k = 8;
    Random random = new Random(1);
    try (BufferAllocator root = new RootAllocator(1 << 20);
        HostStore store = HostStore.allocate(root, 1, rows, dim, 1f, 9)) {
      float[] h = gaussian(random, tokens * dim);
      Probes probes = randomProbes(random, tokens, p, experts);
      KeyRetrieval.Result got =
          KeyRetrieval.topK(store, 0, h, tokens, probes.experts, probes.scores, p, experts, k);
      KeyRetrieval.Result want = bruteForce(store, h, tokens, probes, p, experts, k);
      assertEquals(k, got.k());
      assertArrayEquals(want.rows(), got.rows());
      assertArrayEquals(want.scores(), got.scores(), 1e-5f);
    }
  }

  @Test
  void matchesBruteForceAcrossKeyTilesDimensionChunksAndTasks() {
    // R = 150 rows per expert spans two 128-row tiles, d = 300 two dimension chunks, and 150
    // tokens x 2 probes over 4 experts put more pairs on an expert than one task takes.
    int rows = 600;
    int dim = 300;
    int experts = 4;
    int tokens = 150;
    int p = 2;
    int k = 10;
    Random random = new Random(7);
    try (BufferAllocator root = new RootAllocator(HostStore.bytesNeeded(1, rows, dim));
        HostStore store = HostStore.allocate(root, 1, rows, dim, 1f, 9)) {
      float[] h = gaussian(random, tokens * dim);
      Probes probes = randomProbes(random, tokens, p, experts);
      KeyRetrieval.Result got =
          KeyRetrieval.topK(store, 0, h, tokens, probes.experts, probes.scores, p, experts, k);
      KeyRetrieval.Result want = bruteForce(store, h, tokens, probes, p, experts, k);
      assertArrayEquals(want.rows(), got.rows());
      assertArrayEquals(want.scores(), got.scores(), 1e-3f);
    }
  }

  @Test
  void tiesGoToTheLowerRowId() {
    int rows = 12;
    int dim = 2;
    int experts = 3;
    try (BufferAllocator root = new RootAllocator(1 << 20);
        HostStore store = HostStore.allocate(root, 1, rows, dim, 1f, 9)) {
      // Small integers make every score exact, so equal keys tie exactly. Token 1 scores rows
      // 1 (-2 * 0 = -0.0) and 4, 6, 7 (+0.0) zero, which must tie, broken by row id.
      for (int r = 0; r < rows; r++) {
        store.setKeyRow(0, r, new float[] {r % 3, 1});
      }
      store.setKeyRow(0, 6, new float[] {0, 0});
      float[] h = {1, 0, 1, -1};
      Probes probes = new Probes(new int[] {2, 0, 0, 1}, new float[] {1, 1, -2, 1});
      KeyRetrieval.Result got =
          KeyRetrieval.topK(store, 0, h, 2, probes.experts, probes.scores, 2, experts, 5);
      assertArrayEquals(new int[] {2, 8, 11, 1, 10, 0, 3, 5, 1, 4}, got.rows());
      KeyRetrieval.Result want = bruteForce(store, h, 2, probes, 2, experts, 5);
      assertArrayEquals(want.rows(), got.rows());
      assertArrayEquals(want.scores(), got.scores());
    }
  }

  @Test
  void padsTokensWhoseProbedExpertsHoldFewerThanKRows() {
    try (BufferAllocator root = new RootAllocator(1 << 20);
        HostStore ten = HostStore.allocate(root, 1, 10, 4, 1f, 3);
        HostStore nine = HostStore.allocate(root, 1, 9, 4, 1f, 3)) {
      float[] h = {1, 2, 3, 4};
      // 10 rows, 4 experts: R = 3, expert 3 holds row 9 alone.
      KeyRetrieval.Result last =
          KeyRetrieval.topK(ten, 0, h, 1, new int[] {3}, new float[] {1}, 1, 4, 5);
      assertArrayEquals(new int[] {9, -1, -1, -1, -1}, last.rows());
      assertEquals(Float.NEGATIVE_INFINITY, last.scores()[1]);
      // 9 rows, 4 experts: R = 3, expert 3 is empty.
      KeyRetrieval.Result empty =
          KeyRetrieval.topK(nine, 0, h, 1, new int[] {3, 1}, new float[] {1, 1}, 2, 4, 4);
      assertEquals(-1, empty.rows()[3]);
      assertArrayEquals(
          bruteForce(nine, h, 1, new Probes(new int[] {3, 1}, new float[] {1, 1}), 2, 4, 4).rows(),
          empty.rows());
    }
  }

  @Test
  void resultsAreBitIdenticalForAnyThreadCount() throws Exception {
    int rows = 1000;
    int dim = 64;
    int experts = 32;
    int tokens = 300;
    int p = 4;
    int k = 16;
    Random random = new Random(2);
    float[] h = gaussian(random, tokens * dim);
    Probes probes = randomProbes(random, tokens, p, experts);
    try (BufferAllocator root = new RootAllocator(HostStore.bytesNeeded(1, rows, dim));
        HostStore store = HostStore.allocate(root, 1, rows, dim, 0.02f, 4)) {
      KeyRetrieval.Result[] results = new KeyRetrieval.Result[3];
      for (int threads = 1; threads <= 3; threads++) {
        results[threads - 1] =
            StoreTesting.onThreads(
                threads,
                () ->
                    KeyRetrieval.topK(
                        store, 0, h, tokens, probes.experts, probes.scores, p, experts, k));
      }
      for (KeyRetrieval.Result r : results) {
        assertArrayEquals(results[0].rows(), r.rows());
        assertArrayEquals(results[0].scores(), r.scores());
      }
      assertArrayEquals(
          bruteForce(store, h, tokens, probes, p, experts, k).rows(), results[0].rows());
    }
  }

  @Test
  void rejectsInvalidProbes() {
    try (BufferAllocator root = new RootAllocator(1 << 20);
        HostStore store = HostStore.allocate(root, 1, 10, 2, 1f, 3)) {
      float[] h = {1, 1};
      assertThrows(
          IllegalArgumentException.class,
          () -> KeyRetrieval.topK(store, 0, h, 1, new int[] {1, 1}, new float[2], 2, 4, 3));
      assertThrows(
          IllegalArgumentException.class,
          () -> KeyRetrieval.topK(store, 0, h, 1, new int[] {4}, new float[1], 1, 4, 3));
      assertThrows(
          IllegalArgumentException.class,
          () -> KeyRetrieval.topK(store, 0, h, 1, new int[] {0}, new float[1], 1, 4, 0));
      assertThrows(
          IndexOutOfBoundsException.class,
          () -> KeyRetrieval.topK(store, 1, h, 1, new int[] {0}, new float[1], 1, 4, 3));
    }
  }

  private static Probes randomProbes(Random random, int tokens, int p, int experts) {
    int[] ids = new int[tokens * p];
    float[] scores = new float[tokens * p];
    for (int t = 0; t < tokens; t++) {
      for (int q = 0; q < p; q++) {
        int e;
        boolean repeat;
        do {
          e = random.nextInt(experts);
          repeat = false;
          for (int prev = 0; prev < q; prev++) {
            repeat |= ids[t * p + prev] == e;
          }
        } while (repeat);
        ids[t * p + q] = e;
        scores[t * p + q] = random.nextFloat() * 2 - 0.5f;
      }
    }
    return new Probes(ids, scores);
  }

  private static float[] gaussian(Random random, int n) {
    float[] out = new float[n];
    for (int i = 0; i < n; i++) {
      out[i] = (float) random.nextGaussian();
    }
    return out;
  }
}
