package org.meft.train;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.AdapterMethod;
import org.meft.adapter.AdapterMethods;
import org.meft.adapter.AdapterSettings;
import org.meft.adapter.ComposedMethod;
import org.meft.adapter.LayerSelection;
import org.meft.adapter.full.FullConfig;
import org.meft.model.BaseDtype;
import org.meft.model.LlamaConfig;
import org.meft.model.ShapeLimit;
import org.meft.settings.Range;
import org.meft.settings.Setting;
import org.meft.settings.SettingValues;

/**
 * Everything that defines one training run. Built from a map of settings whose keys are the flag
 * names of {@code bin/meft train} ({@link #fromSettings}); the same keys are a sweep file's run
 * objects and the {@code run} object of a checkpoint manifest ({@link #toJson}, {@link #fromJson}),
 * with every default written out. Each setting is declared once: the run's own here, the
 * optimisation's in {@link TrainConfig#SETTINGS}, each adapter method's in its folder (see {@link
 * AdapterMethods}).
 *
 * @param baseModel the base model (Hugging Face folder or llama2.c .bin)
 * @param tokenizer a tokenizer.json, or null for the one in the model folder
 * @param data JSONL of {"prompt": ..., "target": ...}
 * @param adapter the adapter method and its parameters
 * @param train the optimisation settings
 * @param hostBudgetBytes the limit of the allocator that holds the host store
 * @param checkpointEvery a checkpoint every this many steps; 0: only at the end
 * @param baseDtype the type the frozen base weights are held and multiplied in
 * @param deviceMemoryBytes the device memory a run's plan may use; 0: the GPU's total memory on a
 *     GPU, the machine's memory on the CPU
 */
public record RunSpec(
    Path baseModel,
    Path tokenizer,
    Path data,
    AdapterConfig adapter,
    TrainConfig train,
    long hostBudgetBytes,
    int checkpointEvery,
    BaseDtype baseDtype,
    long deviceMemoryBytes) {

  public static final Setting MODEL =
      Setting.required(
          "model",
          Setting.Kind.TEXT,
          Range.ANY,
          "base model: Hugging Face folder or llama2.c .bin");
  public static final Setting TOKENIZER =
      Setting.derived(
          "tokenizer",
          Setting.Kind.TEXT,
          "the model folder's tokenizer.json",
          Range.ANY,
          "a tokenizer.json");
  public static final Setting DATA =
      Setting.required(
          "data", Setting.Kind.TEXT, Range.ANY, "JSONL of {\"prompt\": ..., \"target\": ...}");
  public static final Setting METHOD =
      Setting.required(
          "method",
          Setting.Kind.TEXT,
          Range.ANY,
          "the adapter method: "
              + String.join("|", AdapterMethods.names())
              + ", or two joined by "
              + ComposedMethod.JOIN
              + " (e.g. meft"
              + ComposedMethod.JOIN
              + "lora)");
  public static final Setting BASE_DTYPE =
      Setting.text(
          "base-dtype",
          BaseDtype.AUTO.toString(),
          "the frozen base weights' type: f32, f16, bf16, or auto (the checkpoint's own on a GPU,"
              + " f32 on the CPU)");
  public static final Setting HOST_BUDGET_MB =
      Setting.number(
          "host-budget-mb",
          16384,
          new Range(0, false, 1L << 43, true),
          "limit of the host store's off-heap memory");
  public static final Setting DEVICE_MEMORY_GB =
      Setting.derived(
          "device-memory-gb",
          Setting.Kind.NUMBER,
          "the GPU's total memory on a GPU, the machine's memory on the CPU",
          new Range(0, false, 1L << 33, true),
          "device memory the run's memory plan may use, in GiB; a run over it is refused before"
              + " loading weights");
  public static final Setting CHECKPOINT_EVERY =
      Setting.integer(
          "checkpoint-every",
          0,
          Range.closed(0, Integer.MAX_VALUE),
          "a checkpoint every N steps (0: only at the end)");

  /** The settings every method takes, in the order they are written. */
  public static final List<Setting> COMMON = common();

  /** Every setting {@link #fromSettings} accepts (the flags of {@code bin/meft train}). */
  public static final Set<String> SETTINGS = allSettings();

  public RunSpec {
    if (baseModel == null
        || data == null
        || adapter == null
        || train == null
        || baseDtype == null) {
      throw new IllegalArgumentException(
          "a run needs model, data, an adapter, a train config and a base dtype");
    }
    if (hostBudgetBytes <= 0) {
      throw new IllegalArgumentException(
          HOST_BUDGET_MB.name() + " must be > 0, got " + hostBudgetBytes + " bytes");
    }
    CHECKPOINT_EVERY.check(checkpointEvery);
    if (train.reversible().enabled() && adapter instanceof FullConfig) {
      throw new IllegalArgumentException(
          "--reversible needs an adapter method (meft, parallel, lora), not full fine-tuning");
    }
    if (deviceMemoryBytes < 0) {
      throw new IllegalArgumentException(
          DEVICE_MEMORY_GB.name() + " must be > 0, got " + deviceMemoryBytes + " bytes");
    }
  }

  /** A run without a device memory setting (the device's own limit applies). */
  public RunSpec(
      Path baseModel,
      Path tokenizer,
      Path data,
      AdapterConfig adapter,
      TrainConfig train,
      long hostBudgetBytes,
      int checkpointEvery,
      BaseDtype baseDtype) {
    this(
        baseModel, tokenizer, data, adapter, train, hostBudgetBytes, checkpointEvery, baseDtype, 0);
  }

  /**
   * Builds a run from settings named as {@code bin/meft train}'s flags ({@link #SETTINGS});
   * required: model, data, method, steps, batch-size, lr. Every other setting has its default.
   *
   * @throws IllegalArgumentException naming the setting: an unknown one, one that does not apply to
   *     the method, a missing one, a malformed number, or a value out of range
   */
  public static RunSpec fromSettings(Map<String, String> settings) {
    SettingValues values = new SettingValues(settings);
    AdapterMethod method = AdapterMethods.named(values.text(METHOD));
    Set<String> applies = new LinkedHashSet<>();
    COMMON.forEach(s -> applies.add(s.name()));
    method.settings().forEach(s -> applies.add(s.name()));
    for (String key : settings.keySet()) {
      if (!SETTINGS.contains(key)) {
        throw new IllegalArgumentException(
            "unknown setting '" + key + "'; known settings: " + new TreeSet<>(SETTINGS));
      }
      if (!applies.contains(key)) {
        throw new IllegalArgumentException(key + ": does not apply to method " + method.name());
      }
    }
    String tokenizer = values.optionalText(TOKENIZER);
    String deviceMemory = values.optionalText(DEVICE_MEMORY_GB);
    return new RunSpec(
        Path.of(values.text(MODEL)),
        tokenizer == null ? null : Path.of(tokenizer),
        Path.of(values.text(DATA)),
        method.configure(values, new LayerSelection(values.text(AdapterSettings.LAYERS))),
        TrainConfig.read(values),
        values.mebibytes(HOST_BUDGET_MB),
        values.integer(CHECKPOINT_EVERY),
        BaseDtype.parse(values.text(BASE_DTYPE)),
        deviceMemory == null ? 0 : gibibytes(deviceMemory));
  }

  private static long gibibytes(String text) {
    double gib;
    try {
      gib = Double.parseDouble(text);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          DEVICE_MEMORY_GB.name() + ": expected a number, got '" + text + "'");
    }
    DEVICE_MEMORY_GB.check((float) gib);
    return (long) (gib * (1L << 30));
  }

  /**
   * Refuses a max-length past the positions of the base model of shape {@code config}, for a
   * max-length the user gave (the default is cut to the model's positions, as everywhere a run
   * reads it).
   *
   * @throws IllegalArgumentException naming max-length, the model's positions and the value
   */
  public void checkMaxLength(LlamaConfig config) {
    if (train.maxLength() > config.maxSeqLen()) {
      throw new IllegalArgumentException(
          TrainConfig.MAX_LENGTH.name()
              + " must be at most the model's "
              + config.maxSeqLen()
              + " positions ("
              + baseModel
              + "), got "
              + train.maxLength());
    }
  }

  /**
   * Refuses an adapter size (adapter-size, lora-rank; each method's of a composition) whose
   * tensors, size x the widest dimension of the base model of shape {@code config}, would pass one
   * tensor's 2^31 elements.
   *
   * @throws IllegalArgumentException naming the setting (after its method, in a composition), the
   *     largest size allowed and the value
   */
  public void checkModel(LlamaConfig config) {
    for (AdapterConfig part : adapter.parts()) {
      Optional<Setting> size = part.method().sizeSetting();
      if (size.isEmpty()) {
        continue;
      }
      long n = Long.parseLong(part.settings().get(size.get().name()));
      long width = Math.max(config.dim(), config.hiddenDim());
      if (n * width > ShapeLimit.MAX_TENSOR_ELEMENTS) {
        throw new IllegalArgumentException(
            (part == adapter ? "" : part.method().name() + ": ")
                + size.get().name()
                + " must be at most "
                + ShapeLimit.MAX_TENSOR_ELEMENTS / width
                + " for this model (its tensors are "
                + size.get().name()
                + " x the model's width "
                + width
                + ", within one tensor's "
                + ShapeLimit.MAX_TENSOR_ELEMENTS
                + " elements), got "
                + n);
      }
    }
  }

  /** This run as settings, every default written out; {@code fromSettings} gives it back. */
  public Map<String, String> toSettings() {
    Map<String, String> s = new LinkedHashMap<>();
    s.put(MODEL.name(), baseModel.toString());
    if (tokenizer != null) {
      s.put(TOKENIZER.name(), tokenizer.toString());
    }
    s.put(DATA.name(), data.toString());
    s.put(METHOD.name(), adapter.method().name());
    s.put(AdapterSettings.LAYERS.name(), adapter.layers().spec());
    s.putAll(train.settings());
    s.put(HOST_BUDGET_MB.name(), SettingValues.mebibytesText(hostBudgetBytes));
    s.put(CHECKPOINT_EVERY.name(), Integer.toString(checkpointEvery));
    s.put(BASE_DTYPE.name(), baseDtype.toString());
    if (deviceMemoryBytes > 0) {
      s.put(DEVICE_MEMORY_GB.name(), Double.toString((double) deviceMemoryBytes / (1L << 30)));
    }
    s.putAll(adapter.settings());
    return s;
  }

  /** {@link #toSettings} as a JSON object: numbers as JSON numbers, the rest as strings. */
  public JsonObject toJson() {
    JsonObject json = new JsonObject();
    toSettings()
        .forEach(
            (key, value) ->
                json.add(
                    key,
                    switch (setting(key).kind()) {
                      case TEXT -> new JsonPrimitive(value);
                      case BOOLEAN -> new JsonPrimitive(Boolean.parseBoolean(value));
                      case INTEGER, NUMBER -> new JsonPrimitive(new BigDecimal(value));
                    }));
    return json;
  }

  /** A run from a JSON object of settings (a sweep file entry or a manifest's {@code run}). */
  public static RunSpec fromJson(JsonObject json) {
    return fromSettings(settingsOf(json));
  }

  /**
   * A JSON object's members as settings: strings and numbers as written, arrays (of {@code
   * lora-targets} or {@code layers}) joined with commas, null members left out.
   */
  public static Map<String, String> settingsOf(JsonObject json) {
    Map<String, String> settings = new LinkedHashMap<>();
    for (Map.Entry<String, JsonElement> e : json.entrySet()) {
      JsonElement value = e.getValue();
      if (value.isJsonNull()) {
        continue;
      }
      if (value.isJsonArray()) {
        List<String> parts = new ArrayList<>();
        for (JsonElement part : value.getAsJsonArray()) {
          parts.add(scalar(e.getKey(), part));
        }
        settings.put(e.getKey(), String.join(",", parts));
      } else {
        settings.put(e.getKey(), scalar(e.getKey(), value));
      }
    }
    return settings;
  }

  private static String scalar(String key, JsonElement value) {
    if (!value.isJsonPrimitive()) {
      throw new IllegalArgumentException(key + ": expected a string or a number, got " + value);
    }
    return value.getAsString(); // a boolean reads as true/false, which only switches accept
  }

  private static List<Setting> common() {
    List<Setting> common = new ArrayList<>(List.of(MODEL, TOKENIZER, DATA, METHOD));
    common.add(AdapterSettings.LAYERS);
    common.addAll(TrainConfig.SETTINGS);
    common.add(BASE_DTYPE);
    common.add(HOST_BUDGET_MB);
    common.add(DEVICE_MEMORY_GB);
    common.add(CHECKPOINT_EVERY);
    return List.copyOf(common);
  }

  private static Set<String> allSettings() {
    Set<String> all = new LinkedHashSet<>();
    COMMON.forEach(s -> all.add(s.name()));
    AdapterMethods.withCompositions().forEach(m -> m.settings().forEach(s -> all.add(s.name())));
    return Set.copyOf(all);
  }

  /** The setting called {@code name}, common or any method's (a composition's included). */
  public static Setting setting(String name) {
    for (Setting s : COMMON) {
      if (s.name().equals(name)) {
        return s;
      }
    }
    for (AdapterMethod method : AdapterMethods.withCompositions()) {
      for (Setting s : method.settings()) {
        if (s.name().equals(name)) {
          return s;
        }
      }
    }
    throw new IllegalArgumentException("no setting " + name);
  }
}
