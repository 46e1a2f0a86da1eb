package org.meft.store;

/**
 * Scores (token, probe) pairs that probe the same expert against that expert's keys: {@code
 * scores[pair R + r] = probeScores[pair] * (h_t . k_{e R + r})}, t = pair / P. One instance per
 * thread: it owns its scratch. {@link #create} picks the JDK Vector API kernel when {@link
 * VectorApi#AVAILABLE}, else the plain-Java one; each gives every score by the same arithmetic
 * whatever the thread count.
 */
interface ExpertScoring {
  /** Pairs one {@link #score} call takes at most. */
  int MAX_PAIRS = 64;

  /**
   * Scores the pairs {@code pairs[from, to)} (at most {@link #MAX_PAIRS}), all probing expert e.
   */
  void score(int expert, int[] pairs, int from, int to);

  /**
   * @param h hidden states [T, d]
   * @param probeScores router scores [T, P]
   * @param scores output [T, P, R]
   */
  static ExpertScoring create(
      HostStore store,
      int layer,
      float[] h,
      int probes,
      float[] probeScores,
      int perExpert,
      float[] scores) {
    return VectorApi.AVAILABLE
        ? VectorExpertScorer.create(store, layer, h, probes, probeScores, perExpert, scores)
        : new ExpertScorer(store, layer, h, probes, probeScores, perExpert, scores);
  }
}
