package org.meft.adapter.meft;

import org.meft.adapter.AdapterConfig;
import org.meft.adapter.LayerSelection;

/**
 * The MEFT sparse adapter: the parallel adapter's K, V [N, D] live in host memory; per step each
 * token keeps its top-K rows found through a Key-Experts router, and only the union of those rows
 * (at most maxRows per layer) goes to the device.
 *
 * @param adapterSize N, neurons per layer
 * @param topK K, rows kept per token
 * @param experts E, groups of ceil(N / E) consecutive rows the router scores (default ceil(sqrt N))
 * @param probes P, experts each token searches
 * @param maxRows S_max, the cap on rows per layer per step (the highest-scoring are kept)
 * @param keyInit standard deviation of the initial keys (values start at zero)
 * @param layers the layers that get an adapter
 */
public record MeftConfig(
    int adapterSize,
    int topK,
    int experts,
    int probes,
    int maxRows,
    float keyInit,
    LayerSelection layers)
    implements AdapterConfig {

  public MeftConfig {
    if (adapterSize < 1) {
      throw new IllegalArgumentException("adapterSize must be >= 1, got " + adapterSize);
    }
    if (topK < 1 || topK > adapterSize) {
      throw new IllegalArgumentException(
          "topK must be in [1, adapterSize=" + adapterSize + "], got " + topK);
    }
    if (experts < 1 || experts > adapterSize) {
      throw new IllegalArgumentException(
          "experts must be in [1, adapterSize=" + adapterSize + "], got " + experts);
    }
    if (probes < 1 || probes > experts) {
      throw new IllegalArgumentException(
          "probes must be in [1, experts=" + experts + "], got " + probes);
    }
    if (maxRows < topK || maxRows > adapterSize) {
      throw new IllegalArgumentException(
          "maxRows must be in [topK="
              + topK
              + ", adapterSize="
              + adapterSize
              + "], got "
              + maxRows);
    }
    if (!(keyInit > 0)) {
      throw new IllegalArgumentException("keyInit must be > 0, got " + keyInit);
    }
  }

  /** The paper's default number of experts: ceil(sqrt(N)). */
  public static int defaultExperts(int adapterSize) {
    return (int) Math.ceil(Math.sqrt(adapterSize));
  }

  /** Rows per expert: ceil(N / E); the last expert may hold fewer. */
  public int rowsPerExpert() {
    return (adapterSize + experts - 1) / experts;
  }

  @Override
  public String method() {
    return "meft";
  }
}
