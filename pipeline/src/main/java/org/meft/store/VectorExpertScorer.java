package org.meft.store;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link ExpertScoring} with the JDK Vector API, a register-blocked matrix product: blocks of
 * {@value #KEY_BLOCK} key rows are copied from the store (one bulk copy, small enough to stay in L2
 * while every pair of the task reads them), and a micro-kernel computes 4 tokens x 3 keys at once,
 * 12 vector accumulators with fused multiply-adds along d, 7 loads per 12 FMAs. Each dot product is
 * its lane sums reduced, then the d % L tail added in order: the same arithmetic wherever the pair
 * and the key fall in a block (a short block repeats its last token or key and drops the repeats),
 * so scores do not depend on the grouping or the thread count.
 */
final class VectorExpertScorer implements ExpertScoring {
  private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

  /** Key rows per block: a multiple of 3, 192 KiB at d = 1024. */
  private static final int KEY_BLOCK = 48;

  private final HostStore store;
  private final int layer;
  private final float[] h;
  private final int dim;
  private final int probes;
  private final float[] probeScores;
  private final int perExpert;
  private final float[] scores;
  private final float[] keys;
  private final float[] dots = new float[12];

  private VectorExpertScorer(
      HostStore store,
      int layer,
      float[] h,
      int probes,
      float[] probeScores,
      int perExpert,
      float[] scores) {
    this.store = store;
    this.layer = layer;
    this.h = h;
    this.dim = store.dim();
    this.probes = probes;
    this.probeScores = probeScores;
    this.perExpert = perExpert;
    this.scores = scores;
    this.keys = new float[Math.min(KEY_BLOCK, perExpert) * dim];
  }

  /** Loaded only when the Vector API is present (see {@link VectorApi#AVAILABLE}). */
  static ExpertScoring create(
      HostStore store,
      int layer,
      float[] h,
      int probes,
      float[] probeScores,
      int perExpert,
      float[] scores) {
    return new VectorExpertScorer(store, layer, h, probes, probeScores, perExpert, scores);
  }

  @Override
  public void score(int expert, int[] pairs, int from, int to) {
    int first = expert * perExpert;
    int end = Math.min(store.rows(), first + perExpert);
    for (int b = first; b < end; b += KEY_BLOCK) {
      int n = Math.min(KEY_BLOCK, end - b);
      store.readKeyRows(layer, b, n, keys, 0);
      for (int i = from; i < to; i += 4) {
        int p0 = pairs[i];
        int p1 = pairs[Math.min(i + 1, to - 1)];
        int p2 = pairs[Math.min(i + 2, to - 1)];
        int p3 = pairs[Math.min(i + 3, to - 1)];
        for (int r = 0; r < n; r += 3) {
          dots4x3(
              (p0 / probes) * dim,
              (p1 / probes) * dim,
              (p2 / probes) * dim,
              (p3 / probes) * dim,
              r * dim,
              Math.min(r + 1, n - 1) * dim,
              Math.min(r + 2, n - 1) * dim);
          for (int a = 0; a < 4 && i + a < to; a++) {
            int pair = pairs[i + a];
            int out = pair * perExpert + (b - first) + r;
            float g = probeScores[pair];
            for (int c = 0; c < 3 && r + c < n; c++) {
              // + 0.0f turns -0.0 into 0.0, so that a zero score ties with other zeros.
              scores[out + c] = g * dots[3 * a + c] + 0.0f;
            }
          }
        }
      }
    }
  }

  /**
   * {@code dots[3 a + c] = h[t_a, :] . keys[k_c, :]} for tokens at h offsets t0..t3 and keys at
   * offsets k0..k2 of the key block.
   */
  private void dots4x3(int t0, int t1, int t2, int t3, int k0, int k1, int k2) {
    FloatVector a00 = FloatVector.zero(F);
    FloatVector a01 = a00;
    FloatVector a02 = a00;
    FloatVector a10 = a00;
    FloatVector a11 = a00;
    FloatVector a12 = a00;
    FloatVector a20 = a00;
    FloatVector a21 = a00;
    FloatVector a22 = a00;
    FloatVector a30 = a00;
    FloatVector a31 = a00;
    FloatVector a32 = a00;
    int bound = F.loopBound(dim);
    for (int i = 0; i < bound; i += F.length()) {
      FloatVector x0 = FloatVector.fromArray(F, keys, k0 + i);
      FloatVector x1 = FloatVector.fromArray(F, keys, k1 + i);
      FloatVector x2 = FloatVector.fromArray(F, keys, k2 + i);
      FloatVector y = FloatVector.fromArray(F, h, t0 + i);
      a00 = y.fma(x0, a00);
      a01 = y.fma(x1, a01);
      a02 = y.fma(x2, a02);
      y = FloatVector.fromArray(F, h, t1 + i);
      a10 = y.fma(x0, a10);
      a11 = y.fma(x1, a11);
      a12 = y.fma(x2, a12);
      y = FloatVector.fromArray(F, h, t2 + i);
      a20 = y.fma(x0, a20);
      a21 = y.fma(x1, a21);
      a22 = y.fma(x2, a22);
      y = FloatVector.fromArray(F, h, t3 + i);
      a30 = y.fma(x0, a30);
      a31 = y.fma(x1, a31);
      a32 = y.fma(x2, a32);
    }
    dots[0] = finish(a00, t0, k0, bound);
    dots[1] = finish(a01, t0, k1, bound);
    dots[2] = finish(a02, t0, k2, bound);
    dots[3] = finish(a10, t1, k0, bound);
    dots[4] = finish(a11, t1, k1, bound);
    dots[5] = finish(a12, t1, k2, bound);
    dots[6] = finish(a20, t2, k0, bound);
    dots[7] = finish(a21, t2, k1, bound);
    dots[8] = finish(a22, t2, k2, bound);
    dots[9] = finish(a30, t3, k0, bound);
    dots[10] = finish(a31, t3, k1, bound);
    dots[11] = finish(a32, t3, k2, bound);
  }

  /** The lanes' sum, plus the dimensions [bound, d) in order. */
  private float finish(FloatVector lanes, int t, int k, int bound) {
    float dot = lanes.reduceLanes(VectorOperators.ADD);
    for (int i = bound; i < dim; i++) {
      dot += h[t + i] * keys[k + i];
    }
    return dot;
  }
}
