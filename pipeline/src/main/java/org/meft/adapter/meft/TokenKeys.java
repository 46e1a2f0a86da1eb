package org.meft.adapter.meft;

import java.util.SplittableRandom;

/**
 * Keys drawn from the training tokens instead of at random ({@code --key-source tokens}): random
 * keys in a space where the hidden states fill a narrow cone leave most rows facing away from every
 * token, so few rows are ever chosen. Here each expert is a cluster of the tokens' hidden states
 * (spherical k-means over their directions), its rows are members of that cluster with a little
 * noise (so repeated members still give distinct rows), and every key keeps the norm a random key
 * of std {@code keyInit} has, {@code keyInit sqrt(D)}, so the adapter's scores start at the same
 * scale. The router then starts, as for random keys, at each expert's sum of keys: a token first
 * probes the clusters it lies in.
 */
final class TokenKeys {
  /**
   * Lloyd iterations of the k-means: the clusters only seed the experts, they need not converge.
   */
  static final int KMEANS_ITERATIONS = 5;

  /** The noise added to a member's unit direction, as a norm: distinct rows for repeated tokens. */
  static final double NOISE = 0.5;

  private TokenKeys() {}

  /**
   * Keys [rows, dim] (row-major) from {@code count} hidden states {@code h} [count, dim], rows
   * {@code e * perExpert ...} drawn from cluster e of {@code experts}.
   */
  static float[] fit(
      float[] h, int count, int dim, int rows, int experts, float keyInit, long seed) {
    if (count == 0) {
      throw new IllegalArgumentException("key-source tokens: no training tokens to draw keys from");
    }
    SplittableRandom random = new SplittableRandom(seed);
    double[] unit = directions(h, count, dim);
    int clusters = Math.min(experts, count);
    int[] cluster = kMeans(unit, count, dim, clusters, random);
    int[][] members = members(cluster, clusters);
    int perExpert = (rows + experts - 1) / experts;
    double norm = keyInit * Math.sqrt(dim);
    float[] keys = new float[rows * dim];
    double[] key = new double[dim];
    for (int row = 0; row < rows; row++) {
      int expert = row / perExpert;
      int[] pool = expert < clusters && members[expert].length > 0 ? members[expert] : null;
      int token = pool == null ? random.nextInt(count) : pool[random.nextInt(pool.length)];
      double length = 0;
      for (int i = 0; i < dim; i++) {
        key[i] = unit[token * dim + i] + random.nextGaussian() * NOISE / Math.sqrt(dim);
        length += key[i] * key[i];
      }
      double scale = norm / Math.sqrt(length);
      for (int i = 0; i < dim; i++) {
        keys[row * dim + i] = (float) (key[i] * scale);
      }
    }
    return keys;
  }

  /** Each token's direction h / |h| (a zero h stays zero). */
  private static double[] directions(float[] h, int count, int dim) {
    double[] unit = new double[count * dim];
    for (int t = 0; t < count; t++) {
      double length = 0;
      for (int i = 0; i < dim; i++) {
        length += (double) h[t * dim + i] * h[t * dim + i];
      }
      double inverse = length == 0 ? 0 : 1 / Math.sqrt(length);
      for (int i = 0; i < dim; i++) {
        unit[t * dim + i] = h[t * dim + i] * inverse;
      }
    }
    return unit;
  }

  /**
   * Spherical k-means: each token joins the centre its direction agrees with most; a centre is its
   * members' mean direction. Starts from distinct random tokens; returns each token's cluster.
   */
  static int[] kMeans(double[] unit, int count, int dim, int k, SplittableRandom random) {
    double[] centres = new double[k * dim];
    int[] order = new int[count];
    for (int i = 0; i < count; i++) {
      order[i] = i;
    }
    for (int c = 0; c < k; c++) { // a partial Fisher-Yates shuffle picks k distinct tokens
      int pick = c + random.nextInt(count - c);
      int swap = order[c];
      order[c] = order[pick];
      order[pick] = swap;
      System.arraycopy(unit, order[c] * dim, centres, c * dim, dim);
    }
    int[] cluster = new int[count];
    for (int iteration = 0; iteration < KMEANS_ITERATIONS; iteration++) {
      for (int t = 0; t < count; t++) {
        int best = 0;
        double bestDot = Double.NEGATIVE_INFINITY;
        for (int c = 0; c < k; c++) {
          double dot = 0;
          for (int i = 0; i < dim; i++) {
            dot += unit[t * dim + i] * centres[c * dim + i];
          }
          if (dot > bestDot) {
            bestDot = dot;
            best = c;
          }
        }
        cluster[t] = best;
      }
      double[] sums = new double[k * dim];
      for (int t = 0; t < count; t++) {
        for (int i = 0; i < dim; i++) {
          sums[cluster[t] * dim + i] += unit[t * dim + i];
        }
      }
      for (int c = 0; c < k; c++) {
        double length = 0;
        for (int i = 0; i < dim; i++) {
          length += sums[c * dim + i] * sums[c * dim + i];
        }
        if (length > 0) { // an empty cluster keeps its centre
          double inverse = 1 / Math.sqrt(length);
          for (int i = 0; i < dim; i++) {
            centres[c * dim + i] = sums[c * dim + i] * inverse;
          }
        }
      }
    }
    return cluster;
  }

  private static int[][] members(int[] cluster, int k) {
    int[] sizes = new int[k];
    for (int c : cluster) {
      sizes[c]++;
    }
    int[][] members = new int[k][];
    for (int c = 0; c < k; c++) {
      members[c] = new int[sizes[c]];
    }
    int[] filled = new int[k];
    for (int t = 0; t < cluster.length; t++) {
      members[cluster[t]][filled[cluster[t]]++] = t;
    }
    return members;
  }
}
