package org.meft.adapter.lora;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.AdapterCost;
import org.meft.adapter.AdapterMethod;
import org.meft.adapter.Adapters;
import org.meft.adapter.DeviceBytes;
import org.meft.adapter.InstallContext;
import org.meft.adapter.LayerSelection;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
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
  public AdapterCost cost(
      AdapterConfig config, LlamaConfig model, List<Integer> layers, long tokens) {
    LoraConfig c = (LoraConfig) config;
    DeviceBytes resident = DeviceBytes.NONE;
    DeviceBytes pass = DeviceBytes.NONE;
    for (String projection : c.projections()) {
      int[] inOut = LoraAdapters.inOut(model, projection);
      resident = resident.plus(LoraAdapters.residentBytes(c.rank(), inOut[0], inOut[1]));
      pass = pass.plus(LoraAdapters.passBytes(tokens, c.rank(), inOut[1]));
    }
    return AdapterCost.onDevice(resident.times(layers.size()), pass, 0);
  }

  @Override
  public Optional<Setting> sizeSetting() {
    return Optional.of(LoraConfig.RANK);
  }

  @Override
  public AdapterConfig resized(AdapterConfig config, int size) {
    LoraConfig c = (LoraConfig) config;
    return new LoraConfig(size, c.alpha(), c.dropout(), c.projections(), c.layers());
  }

  @Override
  public Optional<Map<String, String>> demoSettings(boolean pretrained) {
    return Optional.of(Map.of("lora-rank", "8"));
  }
}
