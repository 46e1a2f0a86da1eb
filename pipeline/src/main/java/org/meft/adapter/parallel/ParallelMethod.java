package org.meft.adapter.parallel;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.AdapterCost;
import org.meft.adapter.AdapterMethod;
import org.meft.adapter.AdapterSettings;
import org.meft.adapter.Adapters;
import org.meft.adapter.InstallContext;
import org.meft.adapter.LayerSelection;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.settings.Setting;
import org.meft.settings.SettingValues;

/** The registry entry of {@code parallel}, the dense adapter with every row on the device. */
public final class ParallelMethod implements AdapterMethod {
  public static final String NAME = "parallel";

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public String description() {
    return "dense parallel FFN adapter, all N rows on the device (the paper's baseline)";
  }

  @Override
  public List<Setting> settings() {
    return ParallelConfig.SETTINGS;
  }

  @Override
  public AdapterConfig configure(SettingValues values, LayerSelection layers) {
    return ParallelConfig.read(values, layers);
  }

  @Override
  public Adapters install(
      Llama model, AdapterConfig config, List<Integer> layers, InstallContext context) {
    return ParallelAdapters.install(model, (ParallelConfig) config, layers, context);
  }

  @Override
  public AdapterCost cost(
      AdapterConfig config, LlamaConfig model, List<Integer> layers, long tokens) {
    ParallelConfig c = (ParallelConfig) config;
    int d = model.dim();
    return AdapterCost.onDevice(
        ParallelAdapter.residentBytes(c.adapterSize(), d).times(layers.size()),
        ParallelAdapter.passBytes(tokens, c.adapterSize(), d),
        ParallelAdapter.transientBytes(tokens, c.adapterSize()));
  }

  @Override
  public Optional<Setting> sizeSetting() {
    return Optional.of(AdapterSettings.ADAPTER_SIZE);
  }

  @Override
  public AdapterConfig resized(AdapterConfig config, int size) {
    ParallelConfig c = (ParallelConfig) config;
    return new ParallelConfig(size, c.keyInit(), c.layers());
  }

  /** The same N as meft's in the demo: all N rows on the device against the active ones. */
  @Override
  public Optional<Map<String, String>> demoSettings(boolean pretrained) {
    return Optional.of(Map.of("adapter-size", pretrained ? "2048" : "256"));
  }
}
