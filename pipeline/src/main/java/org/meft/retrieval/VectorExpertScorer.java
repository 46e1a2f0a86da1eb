package org.meft.retrieval;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.meft.store.HostStore;
import org.meft.store.VectorApi;

/**
 * {@link ExpertScoring} with the JDK Vector API, a register-blocked matrix product {@code scores
 * [pairs, R] = H [pairs, d] K_e^T [d, R]} in the layout of a GEMM micro-kernel. The task's pairs'
 * hidden states are packed once, transposed, into slabs [d][2L] (the last one zero-padded), so that
 * a vector holds one dimension of L pairs; a micro-kernel then computes 6 keys x 2L pairs at once,
 * 12 vector accumulators fed by 2 panel loads and 6 key broadcasts per dimension (a last slab of at
 * most L pairs takes the half-width kernel). No horizontal sums: every score is the product of
 * dimension 0, then one fused multiply-add per further dimension, in order. That is the same
 * arithmetic wherever the pair and the key fall in a block (a short block repeats its last key and
 * drops the repeats, padding lanes are dropped), so scores do not depend on the grouping or the
 * thread count. Key rows are copied from the store in blocks small enough to stay in L2 while every
 * pair of the task reads them.
 *
 * <p>The accumulators start from those first products, not from a zero vector: a loop whose
 * accumulators start from {@link FloatVector#zero}'s shared constant (or from an array load) was
 * seen to compile, depending on the profile C2 had gathered, to code that cannot keep them in
 * registers ("missing constant" for the final stores with {@code -XX:+PrintIntrinsics}) and boxes
 * every accumulator on every iteration, five to ten times slower. (A first product of -0.0 differs
 * from a chain from +0.0 only in the sign of a zero score, and every score is written + 0.0f.)
 */
final class VectorExpertScorer implements ExpertScoring {
  private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  private static final int L = F.length();

  /** Pairs per micro-kernel: two vectors. */
  private static final int PAIR_BLOCK = 2 * L;

  /** Keys per micro-kernel. */
  private static final int KEYS = 6;

  /**
   * Floats between copied key rows beyond d: rows 4 KiB apart (d = 1024) would all map to the same
   * L1 cache sets, and the micro-kernel reads six of them at once.
   */
  private static final int STRIDE_PAD = 16;

  /** Dimensions per tile of {@link #pack}: 4 KiB of the panel. */
  private static final int PACK_DIMS = 1024 / PAIR_BLOCK;

  /** Key rows per block: a multiple of 6, 96 KiB at d = 1024. */
  private static final int KEY_BLOCK = 24;

  private final ScoringInputs in;
  private final int dim;
  private final int stride;
  private final float[] keys;
  private final float[] panel;
  private final float[] dots = new float[KEYS * PAIR_BLOCK];
  private final int[] out = new int[MAX_PAIRS];
  private final float[] gate = new float[MAX_PAIRS];

  private VectorExpertScorer(ScoringInputs in) {
    this.in = in;
    this.dim = in.store().dim();
    this.stride = dim + STRIDE_PAD;
    this.keys = new float[Math.min(KEY_BLOCK, in.perExpert()) * stride];
    this.panel = new float[dim * ((MAX_PAIRS + PAIR_BLOCK - 1) / PAIR_BLOCK * PAIR_BLOCK)];
  }

  /** Loaded only when the Vector API is present (see {@link VectorApi#AVAILABLE}). */
  static ExpertScoring create(ScoringInputs in) {
    return new VectorExpertScorer(in);
  }

  @Override
  public void score(int expert, int[] pairs, int from, int to) {
    HostStore store = in.store();
    int perExpert = in.perExpert();
    int count = to - from;
    int first = expert * perExpert;
    int end = Math.min(store.rows(), first + perExpert);
    for (int a = 0; a < count; a++) {
      int pair = pairs[from + a];
      out[a] = pair * perExpert - first;
      gate[a] = in.probeScores()[pair];
    }
    pack(pairs, from, count);
    for (int b = first; b < end; b += KEY_BLOCK) {
      int n = Math.min(KEY_BLOCK, end - b);
      for (int r = 0; r < n; r++) {
        store.readKeyRows(in.layer(), b + r, 1, keys, r * stride);
      }
      for (int c = 0; c < count; c += PAIR_BLOCK) {
        int lanes = Math.min(PAIR_BLOCK, count - c);
        for (int r = 0; r < n; r += KEYS) {
          if (lanes > L) {
            dots6(c * dim, r, n);
          } else {
            dots6Half(c * dim, r, n);
          }
          for (int q = 0; q < KEYS && r + q < n; q++) {
            int column = b + r + q;
            for (int a = 0; a < lanes; a++) {
              // + 0.0f turns -0.0 into 0.0, so that a zero score ties with other zeros.
              in.scores()[out[c + a] + column] = gate[c + a] * dots[q * PAIR_BLOCK + a] + 0.0f;
            }
          }
        }
      }
    }
  }

  /**
   * {@code panel[c][i][a] = h[t_{c 2L + a}, i]} for the pairs' tokens, zero in the padding: one
   * contiguous [d][2L] slab per micro-kernel block of pairs, read front to back. Copied in tiles of
   * {@value #PACK_DIMS} dimensions, each token's part of a tile at once, so that the tile stays in
   * L1 and every line of h is read once.
   */
  private void pack(int[] pairs, int from, int count) {
    int probes = in.probes();
    float[] h = in.h();
    for (int c = 0; c < count; c += PAIR_BLOCK) {
      int lanes = Math.min(PAIR_BLOCK, count - c);
      int slab = c * dim;
      for (int i0 = 0; i0 < dim; i0 += PACK_DIMS) {
        int i1 = Math.min(dim, i0 + PACK_DIMS);
        for (int a = 0; a < PAIR_BLOCK; a++) {
          if (a < lanes) {
            int t = (pairs[from + c + a] / probes) * dim;
            for (int i = i0; i < i1; i++) {
              panel[slab + i * PAIR_BLOCK + a] = h[t + i];
            }
          } else {
            for (int i = i0; i < i1; i++) {
              panel[slab + i * PAIR_BLOCK + a] = 0f;
            }
          }
        }
      }
    }
  }

  /** Where key row r of a block of n sits in {@link #keys}; rows past the end repeat the last. */
  private int keyOffset(int r, int n) {
    return Math.min(r, n - 1) * stride;
  }

  /**
   * {@code dots[q 2L + a] = panel[:, c + a] . keys[min(r + q, n - 1), :]}, q < 6, a < 2L: keys r to
   * r + 5 of the block against panel columns c to c + 2L.
   */
  private void dots6(int slab, int r, int n) {
    int k0 = keyOffset(r, n);
    int k1 = keyOffset(r + 1, n);
    int k2 = keyOffset(r + 2, n);
    int k3 = keyOffset(r + 3, n);
    int k4 = keyOffset(r + 4, n);
    int k5 = keyOffset(r + 5, n);
    FloatVector x0 = FloatVector.fromArray(F, panel, slab);
    FloatVector x1 = FloatVector.fromArray(F, panel, slab + L);
    FloatVector a00 = x0.mul(keys[k0]);
    FloatVector a01 = x1.mul(keys[k0]);
    FloatVector a10 = x0.mul(keys[k1]);
    FloatVector a11 = x1.mul(keys[k1]);
    FloatVector a20 = x0.mul(keys[k2]);
    FloatVector a21 = x1.mul(keys[k2]);
    FloatVector a30 = x0.mul(keys[k3]);
    FloatVector a31 = x1.mul(keys[k3]);
    FloatVector a40 = x0.mul(keys[k4]);
    FloatVector a41 = x1.mul(keys[k4]);
    FloatVector a50 = x0.mul(keys[k5]);
    FloatVector a51 = x1.mul(keys[k5]);
    for (int i = 1, p = slab + PAIR_BLOCK; i < dim; i++, p += PAIR_BLOCK) {
      x0 = FloatVector.fromArray(F, panel, p);
      x1 = FloatVector.fromArray(F, panel, p + L);
      FloatVector k = FloatVector.broadcast(F, keys[k0 + i]);
      a00 = x0.fma(k, a00);
      a01 = x1.fma(k, a01);
      k = FloatVector.broadcast(F, keys[k1 + i]);
      a10 = x0.fma(k, a10);
      a11 = x1.fma(k, a11);
      k = FloatVector.broadcast(F, keys[k2 + i]);
      a20 = x0.fma(k, a20);
      a21 = x1.fma(k, a21);
      k = FloatVector.broadcast(F, keys[k3 + i]);
      a30 = x0.fma(k, a30);
      a31 = x1.fma(k, a31);
      k = FloatVector.broadcast(F, keys[k4 + i]);
      a40 = x0.fma(k, a40);
      a41 = x1.fma(k, a41);
      k = FloatVector.broadcast(F, keys[k5 + i]);
      a50 = x0.fma(k, a50);
      a51 = x1.fma(k, a51);
    }
    a00.intoArray(dots, 0);
    a01.intoArray(dots, L);
    a10.intoArray(dots, PAIR_BLOCK);
    a11.intoArray(dots, PAIR_BLOCK + L);
    a20.intoArray(dots, 2 * PAIR_BLOCK);
    a21.intoArray(dots, 2 * PAIR_BLOCK + L);
    a30.intoArray(dots, 3 * PAIR_BLOCK);
    a31.intoArray(dots, 3 * PAIR_BLOCK + L);
    a40.intoArray(dots, 4 * PAIR_BLOCK);
    a41.intoArray(dots, 4 * PAIR_BLOCK + L);
    a50.intoArray(dots, 5 * PAIR_BLOCK);
    a51.intoArray(dots, 5 * PAIR_BLOCK + L);
  }

  /** {@link #dots6} for the first L pairs of the slab only (a last block of at most L pairs). */
  private void dots6Half(int slab, int r, int n) {
    int k0 = keyOffset(r, n);
    int k1 = keyOffset(r + 1, n);
    int k2 = keyOffset(r + 2, n);
    int k3 = keyOffset(r + 3, n);
    int k4 = keyOffset(r + 4, n);
    int k5 = keyOffset(r + 5, n);
    FloatVector x0 = FloatVector.fromArray(F, panel, slab);
    FloatVector a0 = x0.mul(keys[k0]);
    FloatVector a1 = x0.mul(keys[k1]);
    FloatVector a2 = x0.mul(keys[k2]);
    FloatVector a3 = x0.mul(keys[k3]);
    FloatVector a4 = x0.mul(keys[k4]);
    FloatVector a5 = x0.mul(keys[k5]);
    for (int i = 1, p = slab + PAIR_BLOCK; i < dim; i++, p += PAIR_BLOCK) {
      FloatVector x = FloatVector.fromArray(F, panel, p);
      a0 = x.fma(FloatVector.broadcast(F, keys[k0 + i]), a0);
      a1 = x.fma(FloatVector.broadcast(F, keys[k1 + i]), a1);
      a2 = x.fma(FloatVector.broadcast(F, keys[k2 + i]), a2);
      a3 = x.fma(FloatVector.broadcast(F, keys[k3 + i]), a3);
      a4 = x.fma(FloatVector.broadcast(F, keys[k4 + i]), a4);
      a5 = x.fma(FloatVector.broadcast(F, keys[k5 + i]), a5);
    }
    a0.intoArray(dots, 0);
    a1.intoArray(dots, PAIR_BLOCK);
    a2.intoArray(dots, 2 * PAIR_BLOCK);
    a3.intoArray(dots, 3 * PAIR_BLOCK);
    a4.intoArray(dots, 4 * PAIR_BLOCK);
    a5.intoArray(dots, 5 * PAIR_BLOCK);
  }
}
