package org.meft.adapter.meft;

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

/** The registry entry of {@code meft}, the sparse adapter whose rows live in host memory. */
public final class MeftMethod implements AdapterMethod {
  public static final String NAME = "meft";

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public String description() {
    return "sparse FFN adapter in host memory, top-K rows per token through Key-Experts routing";
  }

  @Override
  public List<Setting> settings() {
    return MeftConfig.SETTINGS;
  }

  @Override
  public AdapterConfig configure(SettingValues values, LayerSelection layers) {
    return MeftConfig.read(values, layers);
  }

  @Override
  public Adapters install(
      Llama model, AdapterConfig config, List<Integer> layers, InstallContext context) {
    return MeftAdapters.install(model, (MeftConfig) config, layers, context);
  }

  @Override
  public Optional<Map<String, String>> demoSettings(boolean pretrained) {
    return Optional.of(
        pretrained
            ? Map.of("adapter-size", "2048", "top-k", "32", "probes", "8", "max-rows", "512")
            : Map.of("adapter-size", "256", "top-k", "16", "probes", "4", "max-rows", "128"));
  }
}
