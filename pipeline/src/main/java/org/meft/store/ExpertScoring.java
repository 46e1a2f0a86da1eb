package org.meft.store;

/**
 * Scores (token, probe) pairs that probe the same expert against that expert's keys: {@code
 * scores[pair R + r] = probeScores[pair] * (h_t . k_{e R + r})}, t = pair / P. One instance per
 * thread: it owns its scratch. {@link #create} picks the JDK Vector API kernel when the JVM has the
 * {@code jdk.incubator.vector} module (bin/meft and the tests add it), else the plain-Java one;
 * each gives every score by the same arithmetic whatever the thread count.
 */
interface ExpertScoring {
  /** Pairs one {@link #score} call takes at most. */
  int MAX_PAIRS = 64;

  /** Whether this JVM has the Vector API (a JVM started without --add-modules does not). */
  boolean VECTOR_API =
      ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()
          && !Boolean.getBoolean("meft.scalarScoring");

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
    return VECTOR_API
        ? VectorExpertScorer.create(store, layer, h, probes, probeScores, perExpert, scores)
        : new ExpertScorer(store, layer, h, probes, probeScores, perExpert, scores);
  }
}
