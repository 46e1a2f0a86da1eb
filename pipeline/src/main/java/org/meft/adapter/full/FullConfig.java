package org.meft.adapter.full;

import org.meft.adapter.AdapterConfig;
import org.meft.adapter.LayerSelection;

/** Full fine-tuning: every base weight of the chosen layers (and the embeddings) trains. */
public record FullConfig(LayerSelection layers) implements AdapterConfig {
  @Override
  public String method() {
    return "full";
  }
}
