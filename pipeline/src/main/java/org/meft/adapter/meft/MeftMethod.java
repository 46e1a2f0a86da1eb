package org.meft.adapter.meft;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.arrow.memory.rounding.DefaultRoundingPolicy;
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
import org.meft.store.HostStore;
import org.meft.store.StoreFormat;

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

  /**
   * The groups of a pass at their largest ({@link TokenGroups#largest}): under {@code train-rows
   * all}, ceil(M / g) groups of g = floor(maxRows / K) tokens with g K rows each, every one held
   * until backward; under {@code capped}, one group of min(maxRows, M K) rows. A recomputed layer
   * reuses its first forward's choices but brings each group's K_S, V_S to the device again. The
   * rows in flight between two updates, whose gradients the store stages, are at most every group's
   * rows of every micro-batch (and N).
   */
  @Override
  public AdapterCost cost(
      AdapterConfig config, LlamaConfig model, List<Integer> layers, long tokens) {
    MeftConfig c = (MeftConfig) config;
    int n = layers.size();
    int d = model.dim();
    int k = c.topK();
    List<TokenGroups.Shape> groups = TokenGroups.largest(tokens, k, c.maxRows(), c.trainRows());
    StoreFormat format = c.storeFormat();
    MeftAdapter.LayerBytes pass = MeftAdapter.layerBytes(groups, k, d, format.trainKeys());
    long gather = 0;
    long scatter = 0;
    long rowsInFlight = 0;
    for (TokenGroups.Shape group : groups) {
      gather += group.count() * MeftAdapter.gatherBusBytes(group.tokens(), group.rows(), k, d);
      scatter += group.count() * MeftAdapter.scatterBusBytes(group.rows(), d, format.trainKeys());
      rowsInFlight += group.count() * group.rows();
    }
    long passRows = rowsInFlight;
    long buffer =
        DefaultRoundingPolicy.DEFAULT_ROUNDING_POLICY.getRoundedSize(
            MeftAdapter.transferBufferBytes(c.maxRows(), d));
    return new AdapterCost(
        MeftAdapter.residentBytes(c.experts(), d).times(n),
        pass.held(),
        pass.transientBytes(),
        n * gather,
        n * (MeftAdapter.routeBusBytes(tokens, c.probes(), d) + scatter),
        n * gather, // the replay gathers K_S, V_S again
        HostStore.bytesNeeded(n, c.adapterSize(), d, format),
        accumulation ->
            HostStore.gradientBytesNeeded(n, c.adapterSize(), d, format, accumulation * passRows),
        n * 2 * buffer,
        (long) c.experts() * d,
        0);
  }

  @Override
  public Optional<Setting> sizeSetting() {
    return Optional.of(AdapterSettings.ADAPTER_SIZE);
  }

  @Override
  public AdapterConfig resized(AdapterConfig config, int size) {
    return ((MeftConfig) config).withAdapterSize(size);
  }

  @Override
  public Optional<Map<String, String>> demoSettings(boolean pretrained) {
    return Optional.of(
        pretrained
            ? Map.of("adapter-size", "2048", "top-k", "32", "probes", "8", "max-rows", "512")
            : Map.of("adapter-size", "256", "top-k", "16", "probes", "4", "max-rows", "128"));
  }
}
