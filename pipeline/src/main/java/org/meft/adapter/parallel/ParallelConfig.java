package org.meft.adapter.parallel;

import org.meft.adapter.AdapterConfig;
import org.meft.adapter.LayerSelection;

/**
 * The dense parallel FFN adapter (the paper's Parallel Adapter baseline): {@code A(h) = ReLU(h K^T)
 * V}, all N rows of K, V [N, D] on the device.
 *
 * @param adapterSize N, neurons per layer
 * @param keyInit standard deviation of the initial keys (values start at zero)
 * @param layers the layers that get an adapter
 */
public record ParallelConfig(int adapterSize, float keyInit, LayerSelection layers)
    implements AdapterConfig {
  public ParallelConfig {
    if (adapterSize < 1) {
      throw new IllegalArgumentException("adapterSize must be >= 1, got " + adapterSize);
    }
    if (!(keyInit > 0)) {
      throw new IllegalArgumentException("keyInit must be > 0, got " + keyInit);
    }
  }

  @Override
  public String method() {
    return "parallel";
  }
}
