package org.meft.retrieval;

import org.meft.store.VectorApi;

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

  static ExpertScoring create(ScoringInputs in) {
    return VectorApi.AVAILABLE ? VectorExpertScorer.create(in) : new ExpertScorer(in);
  }
}
