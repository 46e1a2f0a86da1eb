package org.meft.retrieval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.meft.store.HostStore;
import org.meft.store.VectorApi;

/**
 * Both scoring kernels, the Vector API one and the plain-Java fallback, against dot products in
 * double, on shapes that leave partial key blocks, partial pair blocks and a d % L tail.
 */
class ExpertScoringTest {
  @ParameterizedTest(name = "{0} pairs")
  @ValueSource(ints = {7, 16, 21, 29, 64})
  void bothKernelsMatchDoublePrecisionDotProducts(int tokens) {
    assertTrue(VectorApi.AVAILABLE, "the tests run with --add-modules jdk.incubator.vector");
    // E = 2 experts of R = 100 rows: four 24-row key blocks and a 4-row one (a partial group of
    // six keys). The pairs, all on expert 1, fill whole, partial and half blocks of 2L pairs.
    int rows = 200;
    int dim = 37; // a tail after the vector lanes of the plain-Java kernel
    int probes = 2;
    int perExpert = 100;
    Random random = new Random(3);
    float[] h = new float[tokens * dim];
    for (int i = 0; i < h.length; i++) {
      h[i] = (float) random.nextGaussian();
    }
    float[] probeScores = new float[tokens * probes];
    int[] pairs = new int[tokens];
    for (int t = 0; t < tokens; t++) {
      pairs[t] = t * probes + 1; // probe 1 of every token
      probeScores[pairs[t]] = 0.5f + random.nextFloat();
    }
    try (BufferAllocator root = new RootAllocator(HostStore.bytesNeeded(1, rows, dim));
        HostStore store = HostStore.allocate(root, 1, rows, dim, 1f, 5)) {
      float[] vector = new float[tokens * probes * perExpert];
      float[] plain = new float[tokens * probes * perExpert];
      VectorExpertScorer.create(
              new ScoringInputs(store, 0, h, probes, probeScores, perExpert, vector))
          .score(1, pairs, 0, tokens);
      new ExpertScorer(new ScoringInputs(store, 0, h, probes, probeScores, perExpert, plain))
          .score(1, pairs, 0, tokens);
      for (int t = 0; t < tokens; t++) {
        int pair = pairs[t];
        for (int r = 0; r < perExpert; r++) {
          float[] key = store.keyRow(0, perExpert + r);
          double dot = 0;
          for (int i = 0; i < dim; i++) {
            dot += (double) h[t * dim + i] * key[i];
          }
          double want = probeScores[pair] * dot;
          assertEquals(
              want, vector[pair * perExpert + r], 1e-4, "vector, token " + t + " row " + r);
          assertEquals(want, plain[pair * perExpert + r], 1e-4, "plain, token " + t + " row " + r);
        }
      }
    }
  }

  /**
   * A score of zero is +0.0 even when every product is -0.0 (h = -0.0, keys positive), so that zero
   * scores tie with each other in the top-K, for both kernels.
   */
  @ParameterizedTest(name = "{0} pairs")
  @ValueSource(ints = {5, 16})
  void zeroScoresArePositiveZero(int tokens) {
    int rows = 48;
    int dim = 19;
    float[] h = new float[tokens * dim];
    for (int i = 0; i < h.length; i++) {
      h[i] = -0.0f;
    }
    float[] probeScores = new float[tokens];
    int[] pairs = new int[tokens];
    for (int t = 0; t < tokens; t++) {
      pairs[t] = t;
      probeScores[t] = 1f;
    }
    try (BufferAllocator root = new RootAllocator(HostStore.bytesNeeded(1, rows, dim));
        HostStore store = HostStore.allocate(root, 1, rows, dim, 1f, 5)) {
      float[] positive = new float[dim];
      Arrays.fill(positive, 0.5f);
      for (int r = 0; r < rows; r++) {
        store.setKeyRow(0, r, positive);
      }
      float[] vector = new float[tokens * rows];
      float[] plain = new float[tokens * rows];
      VectorExpertScorer.create(new ScoringInputs(store, 0, h, 1, probeScores, rows, vector))
          .score(0, pairs, 0, tokens);
      new ExpertScorer(new ScoringInputs(store, 0, h, 1, probeScores, rows, plain))
          .score(0, pairs, 0, tokens);
      for (int i = 0; i < tokens * rows; i++) {
        assertEquals(0, Float.floatToRawIntBits(vector[i]), "vector score " + i + " is +0.0");
        assertEquals(0, Float.floatToRawIntBits(plain[i]), "plain score " + i + " is +0.0");
      }
    }
  }
}
