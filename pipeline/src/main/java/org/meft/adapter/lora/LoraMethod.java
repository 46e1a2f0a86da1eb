package org.meft.adapter.lora;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.AdapterMethod;
import org.meft.adapter.Adapters;
import org.meft.adapter.InstallContext;
import org.meft.adapter.LayerSelection;
import org.meft.model.Llama;
import org.meft.settings.Setting;
import org.meft.settings.SettingValues;

/** The registry entry of {@code lora}: low-rank deltas on chosen projections. */
public final class LoraMethod implements AdapterMethod {
  public static final String NAME = "lora";

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public String description() {
    return "low-rank deltas (alpha / r) B A on chosen projections";
  }

  @Override
  public List<Setting> settings() {
    return LoraConfig.SETTINGS;
  }

  @Override
  public AdapterConfig configure(SettingValues values, LayerSelection layers) {
    return LoraConfig.read(values, layers);
  }

  @Override
  public Adapters install(
      Llama model, AdapterConfig config, List<Integer> layers, InstallContext context) {
    return LoraAdapters.install(model, (LoraConfig) config, layers, context);
  }

  @Override
  public Optional<Map<String, String>> demoSettings(boolean pretrained) {
    return Optional.of(Map.of("lora-rank", "8"));
  }
}
