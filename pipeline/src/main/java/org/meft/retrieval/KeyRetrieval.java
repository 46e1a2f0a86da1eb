package org.meft.retrieval;

import java.util.Arrays;
import org.meft.store.HostStore;
import org.meft.store.Parallel;

/**
 * Key-Experts retrieval on the host (docs/architecture.md, step 2). The N key rows of a layer are
 * split into E experts of R = ceil(N / E) consecutive rows (the last shorter, trailing ones
 * possibly empty). Token t scores only the rows of its P probed experts, {@code s_i = g_t(e(i)) *
 * (h_t . k_i)}, and keeps its top K, for a cost of O(d P R) per token instead of O(d N).
 *
 * <p>Two passes. Scoring runs expert by expert, so a block of an expert's keys is read from Arrow
 * memory once for every token probing that expert rather than once per token. Selection then runs
 * token by token with a bounded heap in primitive arrays. Both passes are parallel, and each score
 * and each selection is the same arithmetic whatever the thread count, so results are identical for
 * any pool.
 */
public final class KeyRetrieval {
  /** (token, probe) pairs per scoring task, so that a popular expert spreads over threads. */
  private static final int PAIRS_PER_TASK = ExpertScoring.MAX_PAIRS;

  private static final int TOKENS_PER_TASK = 4;

  /**
   * Each token's top {@code k} rows, best first: {@code rows}, {@code scores} are [tokens, k]
   * row-major; a token with fewer than k candidate rows is padded with row -1, score -Infinity.
   */
  public record Result(int[] rows, float[] scores, int k) {
    /** The results of tokens [from, to), copied. */
    public Result tokens(int from, int to) {
      return new Result(
          Arrays.copyOfRange(rows, from * k, to * k),
          Arrays.copyOfRange(scores, from * k, to * k),
          k);
    }
  }

  private KeyRetrieval() {}

  /**
   * Top-k retrieval for {@code tokens} tokens of layer {@code layer}.
   *
   * @param h hidden states [tokens, d], row-major
   * @param probeExperts each token's probed expert ids [tokens, P], distinct within a token
   * @param probeScores the router scores of those experts [tokens, P]
   * @return rows ordered by score descending (as {@link Float#compare}, so NaN first, with -0.0
   *     counted as 0.0), ties broken by the lower row id
   */
  public static Result topK(
      HostStore store,
      int layer,
      float[] h,
      int tokens,
      int[] probeExperts,
      float[] probeScores,
      int probes,
      int experts,
      int k) {
    if (k < 1) {
      throw new IllegalArgumentException("k must be >= 1, got " + k);
    }
    if (tokens < 0 || (long) tokens * k > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("tokens must be in [0, 2^31 / k], got " + tokens);
    }
    int rows = store.rows();
    int perExpert = (rows + experts - 1) / experts;
    float[] scores = scores(store, layer, h, tokens, probeExperts, probeScores, probes, experts);

    int[] topRows = new int[tokens * k];
    float[] topScores = new float[tokens * k];
    Parallel.forRanges(
        tokens,
        TOKENS_PER_TASK,
        (from, to) -> {
          TopK heap = new TopK(k);
          long[] candidates = new long[probes * perExpert];
          for (int t = from; t < to; t++) {
            int n = 0;
            for (int p = 0; p < probes; p++) {
              int pair = t * probes + p;
              int first = probeExperts[pair] * perExpert;
              int count = Math.min(perExpert, rows - first);
              for (int r = 0; r < count; r++) {
                candidates[n++] = TopK.key(first + r, scores[pair * perExpert + r]);
              }
            }
            heap.clear();
            heap.offerAll(candidates, n);
            heap.drainSortedInto(topRows, topScores, t * k);
          }
        });
    return new Result(topRows, topScores, k);
  }

  /**
   * The scoring pass alone: {@code scores[(t P + p) R + r] = probeScores[t P + p] * (h_t . k_{e R +
   * r})} for every (token, probe) pair, e = probeExperts[t P + p], R = ceil(N / E), r in [0, rows
   * of e); entries past a short last expert stay 0. Arguments as {@link #topK}.
   *
   * @return the scores [tokens, P, R]
   */
  public static float[] scores(
      HostStore store,
      int layer,
      float[] h,
      int tokens,
      int[] probeExperts,
      float[] probeScores,
      int probes,
      int experts) {
    int rows = store.rows();
    int dim = store.dim();
    store.checkLayer(layer);
    check(h, tokens, dim, probeExperts, probeScores, probes, experts, rows);
    int perExpert = (rows + experts - 1) / experts;
    long candidates = (long) tokens * probes * perExpert;
    if (candidates > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(
          tokens
              + " tokens x "
              + probes
              + " probes x "
              + perExpert
              + " rows per expert exceed 2^31 candidate scores; retrieve fewer tokens per call");
    }
    float[] scores = new float[(int) candidates];
    scoreByExpert(store, layer, h, probeExperts, probeScores, tokens, probes, experts, scores);
    return scores;
  }

  /**
   * Fills {@code scores[(t P + p) R + r] = probeScores[t P + p] * (h_t . k_{e R + r})} for every
   * (token, probe) pair, e = probeExperts[t P + p], r in [0, rows of e).
   */
  private static void scoreByExpert(
      HostStore store,
      int layer,
      float[] h,
      int[] probeExperts,
      float[] probeScores,
      int tokens,
      int probes,
      int experts,
      float[] scores) {
    int rows = store.rows();
    int dim = store.dim();
    int perExpert = (rows + experts - 1) / experts;
    int pairs = tokens * probes;

    // The pairs grouped by expert, in pair order (a counting sort), then cut into tasks.
    int[] start = new int[experts + 1];
    for (int i = 0; i < pairs; i++) {
      start[probeExperts[i] + 1]++;
    }
    int tasks = 0;
    for (int e = 0; e < experts; e++) {
      tasks += (start[e + 1] + PAIRS_PER_TASK - 1) / PAIRS_PER_TASK;
      start[e + 1] += start[e];
    }
    int[] byExpert = new int[pairs];
    int[] cursor = start.clone();
    for (int i = 0; i < pairs; i++) {
      byExpert[cursor[probeExperts[i]]++] = i;
    }
    int[] taskExpert = new int[tasks];
    int[] taskFrom = new int[tasks];
    int task = 0;
    for (int e = 0; e < experts; e++) {
      for (int i = start[e]; i < start[e + 1]; i += PAIRS_PER_TASK) {
        taskExpert[task] = e;
        taskFrom[task++] = i;
      }
    }

    ScoringInputs in = new ScoringInputs(store, layer, h, probes, probeScores, perExpert, scores);
    Parallel.forRanges(
        tasks,
        1,
        (from, to) -> {
          ExpertScoring scorer = ExpertScoring.create(in);
          for (int j = from; j < to; j++) {
            int e = taskExpert[j];
            scorer.score(
                e, byExpert, taskFrom[j], Math.min(start[e + 1], taskFrom[j] + PAIRS_PER_TASK));
          }
        });
  }

  private static void check(
      float[] h,
      int tokens,
      int dim,
      int[] probeExperts,
      float[] probeScores,
      int probes,
      int experts,
      int rows) {
    if (experts < 1 || experts > rows) {
      throw new IllegalArgumentException("experts must be in [1, " + rows + "], got " + experts);
    }
    if (probes < 1 || probes > experts) {
      throw new IllegalArgumentException("probes must be in [1, " + experts + "], got " + probes);
    }
    if (tokens < 0) {
      throw new IllegalArgumentException("tokens must be >= 0, got " + tokens);
    }
    if (h.length < (long) tokens * dim) {
      throw new IllegalArgumentException(
          "h holds " + h.length + " floats, [" + tokens + ", " + dim + "] needs more");
    }
    long pairs = (long) tokens * probes;
    if (probeExperts.length < pairs || probeScores.length < pairs) {
      throw new IllegalArgumentException(
          "probeExperts and probeScores must hold [" + tokens + ", " + probes + "] entries");
    }
    for (int t = 0; t < tokens; t++) {
      for (int p = 0; p < probes; p++) {
        int e = probeExperts[t * probes + p];
        if (e < 0 || e >= experts) {
          throw new IllegalArgumentException(
              "token " + t + " probes expert " + e + ", not in [0, " + experts + ")");
        }
        for (int q = 0; q < p; q++) {
          if (probeExperts[t * probes + q] == e) {
            throw new IllegalArgumentException("token " + t + " probes expert " + e + " twice");
          }
        }
      }
    }
  }
}
