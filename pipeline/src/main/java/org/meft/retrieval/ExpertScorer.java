package org.meft.retrieval;

import java.util.Arrays;
import org.meft.store.HostStore;

/**
 * {@link ExpertScoring} in plain Java, for JVMs without the Vector API. The keys are read in tiles
 * of up to 128 rows by {@code width} dimensions and transposed to [width][rows], so that every
 * pair's dot products accumulate along rows with a loop the JIT vectorises, and each tile is read
 * once for all pairs.
 */
final class ExpertScorer implements ExpertScoring {
  /** Key rows per tile: the vectorised inner loop runs along them. */
  private static final int TILE_ROWS = 128;

  /** Floats per transposed key tile: 128 KiB, so a tile stays in L2 across the pairs. */
  private static final int TILE_FLOATS = 32 * 1024;

  private final ScoringInputs in;
  private final int dim;
  private final int tileRows;
  private final int tileDims;
  private final float[] keyRows;
  private final float[][] keyTile;
  private final float[][] dots;

  /**
   * @param h hidden states [T, d]
   * @param probeScores router scores [T, P]
   * @param scores output [T, P, R]
   */
  ExpertScorer(ScoringInputs in) {
    this.in = in;
    this.dim = in.store().dim();
    this.tileRows = Math.min(in.perExpert(), TILE_ROWS);
    this.tileDims = Math.max(1, Math.min(dim, TILE_FLOATS / tileRows));
    this.keyRows = new float[tileRows * tileDims];
    this.keyTile = new float[tileDims][tileRows];
    this.dots = new float[MAX_PAIRS][tileRows];
  }

  @Override
  public void score(int expert, int[] pairs, int from, int to) {
    HostStore store = in.store();
    int perExpert = in.perExpert();
    int probes = in.probes();
    float[] h = in.h();
    int first = expert * perExpert;
    int end = Math.min(store.rows(), first + perExpert);
    for (int b = first; b < end; b += tileRows) {
      int n = Math.min(tileRows, end - b);
      for (int i = 0; i < to - from; i++) {
        Arrays.fill(dots[i], 0, n, 0f);
      }
      for (int c = 0; c < dim; c += tileDims) {
        int width = Math.min(tileDims, dim - c);
        for (int r = 0; r < n; r++) {
          store.readKeySlice(in.layer(), b + r, c, width, keyRows, r * width);
        }
        transpose(keyRows, n, width, keyTile);
        int i = from;
        for (; i + 3 < to; i += 4) {
          dotsInPlace4(
              h,
              (pairs[i] / probes) * dim + c,
              (pairs[i + 1] / probes) * dim + c,
              (pairs[i + 2] / probes) * dim + c,
              (pairs[i + 3] / probes) * dim + c,
              keyTile,
              n,
              width,
              dots[i - from],
              dots[i + 1 - from],
              dots[i + 2 - from],
              dots[i + 3 - from]);
        }
        for (; i < to; i++) {
          dotsInPlace(h, (pairs[i] / probes) * dim + c, keyTile, n, width, dots[i - from]);
        }
      }
      for (int i = from; i < to; i++) {
        int out = pairs[i] * perExpert + (b - first);
        float g = in.probeScores()[pairs[i]];
        float[] d = dots[i - from];
        for (int r = 0; r < n; r++) {
          // + 0.0f turns -0.0 into 0.0, so that a zero score ties with other zeros.
          in.scores()[out + r] = g * d[r] + 0.0f;
        }
      }
    }
  }

  /**
   * {@code out[i][r] = rows[r * width + i]} for rows [n, width], in 16 x 16 blocks for the cache.
   */
  static void transpose(float[] rows, int n, int width, float[][] out) {
    for (int r0 = 0; r0 < n; r0 += 16) {
      int r1 = Math.min(n, r0 + 16);
      for (int i0 = 0; i0 < width; i0 += 16) {
        int i1 = Math.min(width, i0 + 16);
        for (int i = i0; i < i1; i++) {
          float[] column = out[i];
          for (int r = r0; r < r1; r++) {
            column[r] = rows[r * width + i];
          }
        }
      }
    }
  }

  /**
   * {@code dots[0, n) += h[hOff, hOff + width) @ keyTile}, keyTile [width][n] (key rows
   * transposed): each dot product sums over the dimensions in order, and the inner loop runs along
   * n floats at index 0 of two distinct arrays, the form C2 vectorises (with an offset it cannot
   * rule out overlap and stays scalar).
   */
  static void dotsInPlace(float[] h, int hOff, float[][] keyTile, int n, int width, float[] dots) {
    for (int i = 0; i < width; i++) {
      float hi = h[hOff + i];
      float[] keys = keyTile[i];
      for (int r = 0; r < n; r++) {
        dots[r] += hi * keys[r];
      }
    }
  }

  /** {@link #dotsInPlace} for four tokens at once, loading each key float once for all four. */
  static void dotsInPlace4(
      float[] h,
      int hOff0,
      int hOff1,
      int hOff2,
      int hOff3,
      float[][] keyTile,
      int n,
      int width,
      float[] dots0,
      float[] dots1,
      float[] dots2,
      float[] dots3) {
    for (int i = 0; i < width; i++) {
      float h0 = h[hOff0 + i];
      float h1 = h[hOff1 + i];
      float h2 = h[hOff2 + i];
      float h3 = h[hOff3 + i];
      float[] keys = keyTile[i];
      for (int r = 0; r < n; r++) {
        float k = keys[r];
        dots0[r] += h0 * k;
        dots1[r] += h1 * k;
        dots2[r] += h2 * k;
        dots3[r] += h3 * k;
      }
    }
  }
}
