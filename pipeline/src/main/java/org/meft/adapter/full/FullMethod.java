package org.meft.adapter.full;

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

/** The registry entry of {@code full}: the base weights themselves train (small models only). */
public final class FullMethod implements AdapterMethod {
  public static final String NAME = "full";

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public String description() {
    return "full fine-tuning of the base weights (small models only)";
  }

  /** Full fine-tuning trains the base weights themselves: a companion adapter adds nothing. */
  @Override
  public boolean composable() {
    return false;
  }

  @Override
  public List<Setting> settings() {
    return FullConfig.SETTINGS;
  }

  @Override
  public AdapterConfig configure(SettingValues values, LayerSelection layers) {
    return new FullConfig(layers);
  }

  @Override
  public Adapters install(
      Llama model, AdapterConfig config, List<Integer> layers, InstallContext context) {
    return FullAdapters.install(model, layers, context);
  }

  /** The trained weights in float32 with gradients and moments; no activations of its own. */
  @Override
  public AdapterCost cost(
      AdapterConfig config, LlamaConfig model, List<Integer> layers, long tokens) {
    long elements = FullAdapters.trainedElements(new Llama(model), layers);
    return new AdapterCost(
        DeviceBytes.trainedWithMoments(elements),
        DeviceBytes.NONE,
        0,
        0,
        0,
        0,
        0,
        a -> 0,
        0,
        0,
        elements);
  }

  @Override
  public Optional<Setting> sizeSetting() {
    return Optional.empty();
  }

  @Override
  public AdapterConfig resized(AdapterConfig config, int size) {
    throw new IllegalArgumentException("full fine-tuning has no size setting");
  }

  /** Left out of the demo: its runs would double the demo's training time for a baseline. */
  @Override
  public Optional<Map<String, String>> demoSettings(boolean pretrained) {
    return Optional.empty();
  }
}
