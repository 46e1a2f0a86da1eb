package org.meft.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * Both scoring kernels, the Vector API one and the plain-Java fallback, against dot products in
 * double, on shapes that leave partial key blocks, partial token quads and a d % L tail.
 */
class ExpertScoringTest {
  @Test
  void bothKernelsMatchDoublePrecisionDotProducts() {
    assertTrue(VectorApi.AVAILABLE, "the tests run with --add-modules jdk.incubator.vector");
    int rows = 200; // E = 2 experts of R = 100 rows: two 48-row blocks and a 4-row one each
    int dim = 37; // a tail after the vector lanes
    int probes = 2;
    int tokens = 7; // 7 pairs on one expert: a quad and a partial one
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
      VectorExpertScorer.create(store, 0, h, probes, probeScores, perExpert, vector)
          .score(1, pairs, 0, tokens);
      new ExpertScorer(store, 0, h, probes, probeScores, perExpert, plain)
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
}
