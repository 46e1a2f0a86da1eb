package org.meft.adapter.parallel;

import static org.meft.adapter.AdapterSettings.ADAPTER_SIZE;
import static org.meft.adapter.AdapterSettings.KEY_INIT;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.AdapterMethod;
import org.meft.adapter.AdapterMethods;
import org.meft.adapter.LayerSelection;
import org.meft.settings.Setting;
import org.meft.settings.SettingValues;

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

  static final List<Setting> SETTINGS = List.of(ADAPTER_SIZE, KEY_INIT);

  public ParallelConfig {
    ADAPTER_SIZE.check(adapterSize);
    KEY_INIT.check(keyInit);
  }

  static ParallelConfig read(SettingValues values, LayerSelection layers) {
    return new ParallelConfig(values.integer(ADAPTER_SIZE), values.number(KEY_INIT), layers);
  }

  @Override
  public AdapterMethod method() {
    return AdapterMethods.named(ParallelMethod.NAME);
  }

  @Override
  public Map<String, String> settings() {
    Map<String, String> s = new LinkedHashMap<>();
    s.put(ADAPTER_SIZE.name(), Integer.toString(adapterSize));
    s.put(KEY_INIT.name(), Float.toString(keyInit));
    return s;
  }
}
