package org.meft.train;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.LayerSelection;
import org.meft.adapter.full.FullConfig;
import org.meft.adapter.lora.LoraConfig;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.parallel.ParallelConfig;

/**
 * Everything that defines one training run. Built from a map of settings whose keys are the flag
 * names of {@code bin/meft train} ({@link #fromSettings}); the same keys are a sweep file's run
 * objects and the {@code run} object of a checkpoint manifest ({@link #toJson}, {@link #fromJson}),
 * with every default written out.
 *
 * @param baseModel the base model (Hugging Face folder or llama2.c .bin)
 * @param tokenizer a tokenizer.json, or null for the one in the model folder
 * @param data JSONL of {"prompt": ..., "target": ...}
 * @param adapter the adapter method and its parameters
 * @param train the optimisation settings
 * @param hostBudgetBytes the limit of the allocator that holds the host store
 * @param checkpointEvery a checkpoint every this many steps; 0: only at the end
 */
public record RunSpec(
    Path baseModel,
    Path tokenizer,
    Path data,
    AdapterConfig adapter,
    TrainConfig train,
    long hostBudgetBytes,
    int checkpointEvery) {

  private static final long MIB = 1L << 20;

  /** The settings every method takes, in the order they are written. */
  private static final List<String> COMMON =
      List.of(
          "model",
          "tokenizer",
          "data",
          "method",
          "layers",
          "steps",
          "batch-size",
          "accumulation",
          "lr",
          "warmup",
          "min-lr-ratio",
          "weight-decay",
          "beta1",
          "beta2",
          "eps",
          "clip",
          "max-length",
          "seed",
          "log-every",
          "max-bad-steps",
          "host-budget-mb",
          "checkpoint-every");

  /** The settings of each method besides {@link #COMMON}. */
  private static final Map<String, List<String>> METHOD =
      Map.of(
          "meft",
          List.of("adapter-size", "top-k", "experts", "probes", "max-rows", "key-init"),
          "parallel",
          List.of("adapter-size", "key-init"),
          "lora",
          List.of("lora-rank", "lora-alpha", "lora-dropout", "lora-targets"),
          "full",
          List.of());

  /** Every setting {@link #fromSettings} accepts (the flags of {@code bin/meft train}). */
  public static final Set<String> SETTINGS = allSettings();

  /** Settings whose values are text; the others are numbers. */
  private static final Set<String> TEXT =
      Set.of("model", "tokenizer", "data", "method", "layers", "lora-targets");

  /** Record component names (as validation messages use them) -> setting names. */
  private static final Map<String, String> FIELD_TO_SETTING =
      Map.ofEntries(
          Map.entry("adapterSize", "adapter-size"),
          Map.entry("topK", "top-k"),
          Map.entry("maxRows", "max-rows"),
          Map.entry("keyInit", "key-init"),
          Map.entry("batchSize", "batch-size"),
          Map.entry("learningRate", "lr"),
          Map.entry("warmupSteps", "warmup"),
          Map.entry("minLearningRateRatio", "min-lr-ratio"),
          Map.entry("weightDecay", "weight-decay"),
          Map.entry("clipNorm", "clip"),
          Map.entry("maxLength", "max-length"),
          Map.entry("logEvery", "log-every"),
          Map.entry("maxBadSteps", "max-bad-steps"),
          Map.entry("lora rank", "lora-rank"),
          Map.entry("lora alpha", "lora-alpha"),
          Map.entry("lora dropout", "lora-dropout"),
          Map.entry("lora projections", "lora-targets"));

  private static final Pattern FIELD =
      Pattern.compile("\\b(" + String.join("|", FIELD_TO_SETTING.keySet()) + ")\\b");

  public RunSpec {
    if (baseModel == null || data == null || adapter == null || train == null) {
      throw new IllegalArgumentException("a run needs model, data, an adapter and a train config");
    }
    if (hostBudgetBytes <= 0) {
      throw new IllegalArgumentException(
          "host-budget-mb must be > 0, got " + hostBudgetBytes + " bytes");
    }
    if (checkpointEvery < 0) {
      throw new IllegalArgumentException(
          "checkpoint-every must be >= 0 (0: only at the end), got " + checkpointEvery);
    }
  }

  /**
   * Builds a run from settings named as {@code bin/meft train}'s flags ({@link #SETTINGS});
   * required: model, data, method, steps, batch-size, lr. Every other setting has its default.
   *
   * @throws IllegalArgumentException naming the setting: an unknown one, one that does not apply to
   *     the method, a missing one, a malformed number, or a value out of range
   */
  public static RunSpec fromSettings(Map<String, String> settings) {
    Settings s = new Settings(settings);
    String method = s.required("method");
    List<String> own = METHOD.get(method);
    if (own == null) {
      throw new IllegalArgumentException(
          "method: must be meft, parallel, lora or full, got '" + method + "'");
    }
    for (String key : settings.keySet()) {
      if (!SETTINGS.contains(key)) {
        throw new IllegalArgumentException(
            "unknown setting '" + key + "'; known settings: " + new TreeSet<>(SETTINGS));
      }
      if (!COMMON.contains(key) && !own.contains(key)) {
        throw new IllegalArgumentException(key + ": does not apply to method " + method);
      }
    }
    try {
      TrainConfig train = trainConfig(s);
      return new RunSpec(
          Path.of(s.required("model")),
          s.has("tokenizer") ? Path.of(s.text("tokenizer", null)) : null,
          Path.of(s.required("data")),
          adapterConfig(method, s),
          train,
          s.mebibytes("host-budget-mb", 16384),
          s.integer("checkpoint-every", 0));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(settingNames(e.getMessage()), e);
    }
  }

  private static TrainConfig trainConfig(Settings s) {
    int steps = s.requiredInteger("steps");
    TrainConfig defaults = TrainConfig.defaults(steps, 1, 1f);
    return new TrainConfig(
        steps,
        s.requiredInteger("batch-size"),
        s.integer("accumulation", defaults.accumulation()),
        s.requiredNumber("lr"),
        s.integer("warmup", defaults.warmupSteps()),
        s.number("min-lr-ratio", defaults.minLearningRateRatio()),
        s.number("weight-decay", defaults.weightDecay()),
        s.number("beta1", defaults.beta1()),
        s.number("beta2", defaults.beta2()),
        s.number("eps", defaults.eps()),
        s.number("clip", defaults.clipNorm()),
        s.integer("max-length", defaults.maxLength()),
        s.longInteger("seed", defaults.seed()),
        s.integer("log-every", defaults.logEvery()),
        s.integer("max-bad-steps", defaults.maxBadSteps()));
  }

  private static AdapterConfig adapterConfig(String method, Settings s) {
    LayerSelection layers = new LayerSelection(s.text("layers", "all"));
    int n = s.integer("adapter-size", 4096);
    float keyInit = s.number("key-init", 0.02f);
    return switch (method) {
      case "meft" -> {
        int topK = s.integer("top-k", 64);
        if (topK > n) {
          throw new IllegalArgumentException(
              "top-k: " + topK + " exceeds adapter-size " + n + "; use top-k in [1, " + n + "]");
        }
        yield new MeftConfig(
            n,
            topK,
            s.integer("experts", MeftConfig.defaultExperts(n)),
            s.integer("probes", 8),
            s.integer("max-rows", Math.min(n, 1024)),
            keyInit,
            layers);
      }
      case "parallel" -> new ParallelConfig(n, keyInit, layers);
      case "lora" ->
          new LoraConfig(
              s.integer("lora-rank", 16),
              s.number("lora-alpha", 32),
              s.number("lora-dropout", 0),
              new LinkedHashSet<>(Arrays.asList(s.text("lora-targets", "q,k,v,o").split(","))),
              layers);
      default -> new FullConfig(layers);
    };
  }

  /** Rewrites the record component names of a validation message as setting names. */
  private static String settingNames(String message) {
    Matcher m = FIELD.matcher(message);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      m.appendReplacement(out, Matcher.quoteReplacement(FIELD_TO_SETTING.get(m.group(1))));
    }
    m.appendTail(out);
    return out.toString();
  }

  /** This run as settings, every default written out; {@code fromSettings} gives it back. */
  public Map<String, String> toSettings() {
    Map<String, String> s = new LinkedHashMap<>();
    s.put("model", baseModel.toString());
    if (tokenizer != null) {
      s.put("tokenizer", tokenizer.toString());
    }
    s.put("data", data.toString());
    s.put("method", adapter.method());
    s.put("layers", adapter.layers().spec());
    TrainConfig t = train;
    s.put("steps", Integer.toString(t.steps()));
    s.put("batch-size", Integer.toString(t.batchSize()));
    s.put("accumulation", Integer.toString(t.accumulation()));
    s.put("lr", Float.toString(t.learningRate()));
    s.put("warmup", Integer.toString(t.warmupSteps()));
    s.put("min-lr-ratio", Float.toString(t.minLearningRateRatio()));
    s.put("weight-decay", Float.toString(t.weightDecay()));
    s.put("beta1", Float.toString(t.beta1()));
    s.put("beta2", Float.toString(t.beta2()));
    s.put("eps", Float.toString(t.eps()));
    s.put("clip", Float.toString(t.clipNorm()));
    s.put("max-length", Integer.toString(t.maxLength()));
    s.put("seed", Long.toString(t.seed()));
    s.put("log-every", Integer.toString(t.logEvery()));
    s.put("max-bad-steps", Integer.toString(t.maxBadSteps()));
    s.put(
        "host-budget-mb",
        new BigDecimal(hostBudgetBytes)
            .divide(BigDecimal.valueOf(MIB))
            .stripTrailingZeros()
            .toPlainString());
    s.put("checkpoint-every", Integer.toString(checkpointEvery));
    if (adapter instanceof MeftConfig m) {
      s.put("adapter-size", Integer.toString(m.adapterSize()));
      s.put("top-k", Integer.toString(m.topK()));
      s.put("experts", Integer.toString(m.experts()));
      s.put("probes", Integer.toString(m.probes()));
      s.put("max-rows", Integer.toString(m.maxRows()));
      s.put("key-init", Float.toString(m.keyInit()));
    } else if (adapter instanceof ParallelConfig p) {
      s.put("adapter-size", Integer.toString(p.adapterSize()));
      s.put("key-init", Float.toString(p.keyInit()));
    } else if (adapter instanceof LoraConfig l) {
      s.put("lora-rank", Integer.toString(l.rank()));
      s.put("lora-alpha", Float.toString(l.alpha()));
      s.put("lora-dropout", Float.toString(l.dropout()));
      s.put("lora-targets", String.join(",", new TreeSet<>(l.projections())));
    }
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
                    TEXT.contains(key)
                        ? new JsonPrimitive(value)
                        : new JsonPrimitive(new BigDecimal(value))));
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
    if (!value.isJsonPrimitive() || value.getAsJsonPrimitive().isBoolean()) {
      throw new IllegalArgumentException(key + ": expected a string or a number, got " + value);
    }
    return value.getAsString();
  }

  private static Set<String> allSettings() {
    Set<String> all = new LinkedHashSet<>(COMMON);
    for (String method : List.of("meft", "parallel", "lora", "full")) {
      all.addAll(METHOD.get(method));
    }
    return Set.copyOf(all);
  }

  /** Typed reads of the settings map; a malformed value names its setting. */
  private record Settings(Map<String, String> values) {
    boolean has(String key) {
      return values.containsKey(key);
    }

    String required(String key) {
      String value = values.get(key);
      if (value == null || value.isBlank()) {
        throw new IllegalArgumentException("missing setting '" + key + "'");
      }
      return value.strip();
    }

    String text(String key, String fallback) {
      return has(key) ? values.get(key).strip() : fallback;
    }

    int requiredInteger(String key) {
      required(key);
      return integer(key, 0);
    }

    float requiredNumber(String key) {
      required(key);
      return number(key, 0);
    }

    int integer(String key, int fallback) {
      if (!has(key)) {
        return fallback;
      }
      try {
        return Integer.parseInt(values.get(key).strip());
      } catch (NumberFormatException e) {
        throw malformed(key, "an integer");
      }
    }

    long longInteger(String key, long fallback) {
      if (!has(key)) {
        return fallback;
      }
      try {
        return Long.parseLong(values.get(key).strip());
      } catch (NumberFormatException e) {
        throw malformed(key, "an integer");
      }
    }

    float number(String key, float fallback) {
      if (!has(key)) {
        return fallback;
      }
      try {
        return Float.parseFloat(values.get(key).strip());
      } catch (NumberFormatException e) {
        throw malformed(key, "a number");
      }
    }

    long mebibytes(String key, long fallback) {
      if (!has(key)) {
        return fallback * MIB;
      }
      try {
        return new BigDecimal(values.get(key).strip())
            .multiply(BigDecimal.valueOf(MIB))
            .longValueExact();
      } catch (NumberFormatException | ArithmeticException e) {
        throw malformed(key, "a number of MiB (at most 2^43, whole bytes)");
      }
    }

    private IllegalArgumentException malformed(String key, String expected) {
      return new IllegalArgumentException(
          key + ": expected " + expected + ", got '" + values.get(key) + "'");
    }
  }
}
