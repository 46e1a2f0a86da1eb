package org.meft.adapter.meft;

import static org.meft.adapter.AdapterSettings.ADAPTER_SIZE;
import static org.meft.adapter.AdapterSettings.KEY_INIT;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.AdapterMethod;
import org.meft.adapter.AdapterMethods;
import org.meft.adapter.LayerSelection;
import org.meft.settings.Range;
import org.meft.settings.Setting;
import org.meft.settings.SettingValues;
import org.meft.store.StoreDtype;
import org.meft.store.StoreFormat;
import org.meft.store.StoreMoments;
import org.meft.store.StoreRate;

/**
 * The MEFT sparse adapter: the parallel adapter's K, V [N, D] live in host memory; per step each
 * token keeps its top-K rows found through a Key-Experts router, and only the union of those rows
 * goes to the device, at most maxRows per layer and group of tokens ({@link TrainRows}).
 *
 * @param adapterSize N, neurons per layer
 * @param topK K, rows kept per token
 * @param experts E, groups of ceil(N / E) consecutive rows the router scores (default ceil(sqrt N))
 * @param probes P, experts each token searches
 * @param maxRows S_max, the rows one group of tokens brings to the device per layer
 * @param keyInit standard deviation of the initial keys (values start at zero); with {@code
 *     keySource} TOKENS, their norm is that of such a random key
 * @param keySource where the initial keys come from
 * @param storeRate the learning rates of the store's keys and values, relative to the run's
 * @param trainRows in training, every token's K rows in groups whose union fits maxRows, or one
 *     group capped at maxRows
 * @param storeDtype how the store holds keys and values
 * @param storeMoments how the store holds the AdamW moments
 * @param layers the layers that get an adapter
 */
public record MeftConfig(
    int adapterSize,
    int topK,
    int experts,
    int probes,
    int maxRows,
    float keyInit,
    KeySource keySource,
    StoreRate storeRate,
    TrainRows trainRows,
    StoreDtype storeDtype,
    StoreMoments storeMoments,
    LayerSelection layers)
    implements AdapterConfig {

  /** The cap on rows per layer per step when adapter-size allows more. */
  private static final int MAX_ROWS_CAP = 1024;

  public static final Setting TOP_K =
      Setting.integer(
          "top-k", 8, Range.closed(1, 1 << 24), "K, rows each token keeps (<= adapter-size)");
  public static final Setting EXPERTS =
      Setting.derived(
          "experts",
          Setting.Kind.INTEGER,
          "ceil(sqrt(N))",
          Range.closed(1, 1 << 24),
          "E, groups of consecutive rows the router scores (<= adapter-size)");
  public static final Setting PROBES =
      Setting.integer(
          "probes", 8, Range.closed(1, 1 << 24), "P, experts each token searches (<= experts)");
  public static final Setting MAX_ROWS =
      Setting.derived(
          "max-rows",
          Setting.Kind.INTEGER,
          "min(N, " + MAX_ROWS_CAP + ")",
          Range.closed(1, 1 << 24),
          "S_max, rows a group of tokens brings to the device per layer (in [top-k, adapter-size])");
  public static final Setting TRAIN_ROWS =
      Setting.text(
          "train-rows",
          TrainRows.ALL.flagName(),
          "all: every token trains with its top-k rows, a micro-batch's tokens in groups whose"
              + " union fits max-rows (each group's rows held until backward); capped: one group,"
              + " its union capped at max-rows, the lowest-scored rows dropped");

  public static final Setting KEY_SOURCE =
      Setting.choice(
          "key-source",
          KeySource.RANDOM,
          "the initial keys: random, or the hidden states of training tokens, clustered into the"
              + " experts");
  public static final Setting KEY_LR_SCALE =
      Setting.number(
          "key-lr-scale",
          0f,
          Range.closed(0, 1e6),
          "the store keys' learning rate over the run's --lr; 0, frozen keys, keeps a fact's rows"
              + " chosen from one epoch to the next (docs/results/capacity.md)");
  public static final Setting VALUE_LR_SCALE =
      Setting.number(
          "value-lr-scale",
          1f,
          new Range(0, false, 1e6, true),
          "the store values' learning rate over the run's --lr (keys keep the run's)");
  public static final Setting VALUE_LR_SCHEDULE =
      Setting.choice(
          "value-lr-schedule",
          StoreRate.Schedule.RUN,
          "the run's warm-up and cosine decay, or its peak rate throughout");
  public static final Setting VALUE_LR_FREQUENCY =
      Setting.choice(
          "value-lr-frequency",
          StoreRate.Frequency.NONE,
          "sqrt: a value's rate times min(10, sqrt(step / its row's updates))");

  public static final Setting STORE_DTYPE =
      Setting.choice(
          "store-dtype",
          StoreDtype.F32,
          "the store's keys and values; bf16 halves them, arithmetic stays f32 and updates are"
              + " rounded stochastically");
  public static final Setting STORE_MOMENTS =
      Setting.choice(
          "store-moments",
          StoreMoments.F32,
          "the store's AdamW moments; int8: bitsandbytes' dynamic 8-bit codes with a scale per"
              + " 256 elements");

  static final List<Setting> SETTINGS =
      List.of(
          ADAPTER_SIZE,
          TOP_K,
          EXPERTS,
          PROBES,
          MAX_ROWS,
          KEY_INIT,
          KEY_SOURCE,
          KEY_LR_SCALE,
          VALUE_LR_SCALE,
          VALUE_LR_SCHEDULE,
          VALUE_LR_FREQUENCY,
          TRAIN_ROWS,
          STORE_DTYPE,
          STORE_MOMENTS);

  public MeftConfig {
    ADAPTER_SIZE.check(adapterSize);
    atMost(TOP_K, topK, ADAPTER_SIZE, adapterSize);
    atMost(EXPERTS, experts, ADAPTER_SIZE, adapterSize);
    atMost(PROBES, probes, EXPERTS, experts);
    if (maxRows < topK || maxRows > adapterSize) {
      throw new IllegalArgumentException(
          MAX_ROWS.name()
              + " must be in [top-k="
              + topK
              + ", adapter-size="
              + adapterSize
              + "], got "
              + maxRows);
    }
    KEY_INIT.check(keyInit);
    KEY_LR_SCALE.check(storeRate.keyScale());
    VALUE_LR_SCALE.check(storeRate.valueScale());
    if (trainRows == null) {
      throw new IllegalArgumentException(TRAIN_ROWS.name() + " must be given");
    }
    if (storeDtype == null || storeMoments == null) {
      throw new IllegalArgumentException(
          STORE_DTYPE.name() + " and " + STORE_MOMENTS.name() + " must be given");
    }
  }

  /** Every setting at its default but N, E derived from it. */
  static MeftConfig read(SettingValues values, LayerSelection layers) {
    int n = values.integer(ADAPTER_SIZE);
    return new MeftConfig(
        n,
        values.integer(TOP_K),
        values.integer(EXPERTS, defaultExperts(n)),
        values.integer(PROBES),
        values.integer(MAX_ROWS, Math.min(n, MAX_ROWS_CAP)),
        values.number(KEY_INIT),
        values.choice(KEY_SOURCE, KeySource.class),
        new StoreRate(
            values.number(KEY_LR_SCALE),
            values.number(VALUE_LR_SCALE),
            values.choice(VALUE_LR_SCHEDULE, StoreRate.Schedule.class),
            values.choice(VALUE_LR_FREQUENCY, StoreRate.Frequency.class)),
        TrainRows.named(values.text(TRAIN_ROWS)),
        values.choice(STORE_DTYPE, StoreDtype.class),
        values.choice(STORE_MOMENTS, StoreMoments.class),
        layers);
  }

  /** The store's layout: its dtypes, and key moments only when the keys train. */
  public StoreFormat storeFormat() {
    return new StoreFormat(storeDtype, storeMoments, storeRate.keyScale() > 0);
  }

  /**
   * This configuration at N = {@code size}: experts and max-rows follow N where they were at their
   * defaults, the rest is clamped to what N allows.
   */
  public MeftConfig withAdapterSize(int size) {
    int k = Math.min(topK, size);
    int e = experts == defaultExperts(adapterSize) ? defaultExperts(size) : Math.min(experts, size);
    int rows =
        maxRows == Math.min(adapterSize, MAX_ROWS_CAP) ? Math.min(size, MAX_ROWS_CAP) : maxRows;
    rows = Math.max(k, Math.min(rows, size));
    return new MeftConfig(
        size,
        k,
        e,
        Math.min(probes, e),
        rows,
        keyInit,
        keySource,
        storeRate,
        trainRows,
        storeDtype,
        storeMoments,
        layers);
  }

  /** The paper's default number of experts: ceil(sqrt(N)). */
  public static int defaultExperts(int adapterSize) {
    return (int) Math.ceil(Math.sqrt(adapterSize));
  }

  /** Rows per expert: ceil(N / E); the last expert may hold fewer. */
  public int rowsPerExpert() {
    return (adapterSize + experts - 1) / experts;
  }

  @Override
  public AdapterMethod method() {
    return AdapterMethods.named(MeftMethod.NAME);
  }

  @Override
  public Map<String, String> settings() {
    Map<String, String> s = new LinkedHashMap<>();
    s.put(ADAPTER_SIZE.name(), Integer.toString(adapterSize));
    s.put(TOP_K.name(), Integer.toString(topK));
    s.put(EXPERTS.name(), Integer.toString(experts));
    s.put(PROBES.name(), Integer.toString(probes));
    s.put(MAX_ROWS.name(), Integer.toString(maxRows));
    s.put(KEY_INIT.name(), Float.toString(keyInit));
    s.put(KEY_SOURCE.name(), Setting.spelled(keySource));
    s.put(KEY_LR_SCALE.name(), Float.toString(storeRate.keyScale()));
    s.put(VALUE_LR_SCALE.name(), Float.toString(storeRate.valueScale()));
    s.put(VALUE_LR_SCHEDULE.name(), Setting.spelled(storeRate.schedule()));
    s.put(VALUE_LR_FREQUENCY.name(), Setting.spelled(storeRate.frequency()));
    s.put(TRAIN_ROWS.name(), trainRows.flagName());
    s.put(STORE_DTYPE.name(), Setting.spelled(storeDtype));
    s.put(STORE_MOMENTS.name(), Setting.spelled(storeMoments));
    return s;
  }

  /** {@code value} in [1, bound], the bound being another setting's value. */
  private static void atMost(Setting setting, int value, Setting bound, int boundValue) {
    if (value < 1 || value > boundValue) {
      throw new IllegalArgumentException(
          setting.name()
              + " must be in [1, "
              + bound.name()
              + "="
              + boundValue
              + "], got "
              + value);
    }
  }
}
