package org.meft.adapter.full;

import java.util.List;
import java.util.Map;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.AdapterMethod;
import org.meft.adapter.AdapterMethods;
import org.meft.adapter.LayerSelection;
import org.meft.settings.Setting;

/**
 * Full fine-tuning: every base weight of the chosen layers (and the embeddings, final norm and
 * head) trains. No settings of its own.
 */
public record FullConfig(LayerSelection layers) implements AdapterConfig {
  static final List<Setting> SETTINGS = List.of();

  @Override
  public AdapterMethod method() {
    return AdapterMethods.named(FullMethod.NAME);
  }

  @Override
  public Map<String, String> settings() {
    return Map.of();
  }
}
