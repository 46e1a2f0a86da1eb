package org.meft.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.pytorch.jni.LibUtils;
import ai.djl.util.cuda.CudaUtils;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.meft.adapter.AdapterConfig;
import org.meft.generate.Generator;
import org.meft.generate.Sampler;
import org.meft.load.LanguageModel;
import org.meft.model.BaseDtype;
import org.meft.settings.Range;
import org.meft.settings.Setting;
import org.meft.settings.SettingValues;

/**
 * The checks the GPU bundle runs ({@code scripts/device-bundle}, {@code device-run}), each one JSON
 * object, on the engine's default device (a GPU when DJL's bridge loaded a CUDA libtorch and found
 * the CUDA runtime; else the CPU, which every object then names):
 *
 * <ul>
 *   <li>{@code device}: the device, its name and memory, the engine and the libtorch it loaded;
 *   <li>{@code golden}: stories260K's greedy generation against the reference text;
 *   <li>{@code steps-f32}, {@code steps-f16}: training steps of lora, meft and parallel at one size
 *       on the bench's shape ({@link StepBench}), each with its meters, the engine's accounted
 *       device bytes beside the device memory's sampled peak, and the step times' ratios;
 *   <li>{@code transfer}: the bus under the gathered rows ({@link TransferBench}).
 * </ul>
 *
 * <p>A check that throws is recorded ({@code ok: false}, the error) and the others still run.
 */
public final class DeviceChecks {
  static final Setting CHECK =
      Setting.text("check", "all", "device, golden, steps-f32, steps-f16, transfer or all");
  static final Setting OUT = Setting.required("out", Setting.Kind.TEXT, Range.ANY, "JSON file");
  static final Setting MODEL =
      Setting.text("model", "models/stories260K-hf", "the golden check's model folder");
  static final Setting GOLDEN =
      Setting.text("golden", "golden/stories260K-greedy.json", "the reference generations");
  static final Setting SHAPE =
      Setting.text("shape", "full", "the bench shape of the step checks: full (d = 1024) or quick");
  static final Setting SIZE =
      Setting.integer("size", 65536, Range.atLeast(1), "adapter size N of meft and parallel");
  static final Setting TIMED_STEPS =
      Setting.integer("timed-steps", 3, Range.atLeast(1), "timed steps per configuration");
  static final Setting HOST_BUDGET_MB =
      Setting.integer("host-budget-mb", 16384, Range.atLeast(1), "host store budget");
  static final Setting EXPECT_GPU =
      Setting.flag("expect-gpu", "the device check fails unless the default device is a GPU");

  private static final List<Setting> SETTINGS =
      List.of(CHECK, OUT, MODEL, GOLDEN, SHAPE, SIZE, TIMED_STEPS, HOST_BUDGET_MB, EXPECT_GPU);
  private static final List<String> CHECKS =
      List.of("device", "golden", "steps-f32", "steps-f16", "transfer");

  /**
   * What the checks run on.
   *
   * @param model the golden check's model folder
   * @param golden the reference generations ({@code cases}: prompt, max_new_tokens, text)
   * @param steps the step checks' shape, sizes and step counts
   * @param hostBudgetBytes the host store's allocator limit
   * @param expectGpu whether a CPU default device is an error
   */
  public record Options(
      Path model, Path golden, BenchConfig steps, long hostBudgetBytes, boolean expectGpu) {}

  private DeviceChecks() {}

  public static void main(String[] args) {
    SettingValues values;
    Options options;
    try {
      values = parse(args);
      options = options(values);
    } catch (IllegalArgumentException e) {
      System.err.println("device-checks: " + e.getMessage());
      System.err.println("usage: DeviceChecks --out FILE" + usage());
      System.exit(2);
      return;
    }
    String check = values.text(CHECK);
    JsonObject json =
        check.equals("all") ? runAll(options, System.err) : run(check, options, System.err);
    Path out = Path.of(values.text(OUT));
    try {
      Files.writeString(out, new GsonBuilder().setPrettyPrinting().create().toJson(json) + "\n");
    } catch (IOException e) {
      System.err.println("device-checks: cannot write " + out + ": " + e.getMessage());
      System.exit(1);
    }
    System.exit(failures(json) == 0 ? 0 : 1);
  }

  private static String usage() {
    StringBuilder text = new StringBuilder();
    for (Setting setting : SETTINGS) {
      if (setting != OUT) {
        text.append(" [--").append(setting.name());
        if (setting.kind() != Setting.Kind.BOOLEAN) {
          text.append(' ').append(setting.defaultValue());
        }
        text.append(']');
      }
    }
    return text.toString();
  }

  /** {@code --name value} pairs (a flag takes no value) of the settings above. */
  static SettingValues parse(String[] args) {
    Map<String, Setting> byName = new HashMap<>();
    SETTINGS.forEach(setting -> byName.put(setting.name(), setting));
    Map<String, String> values = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      Setting setting = args[i].startsWith("--") ? byName.get(args[i].substring(2)) : null;
      if (setting == null) {
        throw new IllegalArgumentException("unknown argument '" + args[i] + "'");
      }
      if (setting.kind() == Setting.Kind.BOOLEAN) {
        values.put(setting.name(), "true");
      } else if (i + 1 == args.length) {
        throw new IllegalArgumentException(args[i] + " needs a value");
      } else {
        values.put(setting.name(), args[++i]);
      }
    }
    SettingValues read = new SettingValues(values);
    read.text(OUT);
    String check = read.text(CHECK);
    if (!check.equals("all") && !CHECKS.contains(check)) {
      throw new IllegalArgumentException(
          "--check must be all or one of " + String.join(", ", CHECKS) + ", got '" + check + "'");
    }
    return read;
  }

  static Options options(SettingValues values) {
    String shape = values.text(SHAPE);
    BenchConfig base =
        switch (shape) {
          case "full" -> BenchConfig.full();
          case "quick" -> BenchConfig.quick();
          default ->
              throw new IllegalArgumentException(
                  "--shape must be full or quick, got '" + shape + "'");
        };
    int size = (int) SIZE.check(values.integer(SIZE));
    int timed = (int) TIMED_STEPS.check(values.integer(TIMED_STEPS));
    long budget = (long) HOST_BUDGET_MB.check(values.integer(HOST_BUDGET_MB)) << 20;
    return new Options(
        Path.of(values.text(MODEL)),
        Path.of(values.text(GOLDEN)),
        base.with(List.of(size), 1, timed),
        budget,
        values.bool(EXPECT_GPU));
  }

  /** Every check, in one object keyed by check name, plus {@code failed}: how many failed. */
  public static JsonObject runAll(Options options, PrintStream log) {
    JsonObject json = new JsonObject();
    for (String check : CHECKS) {
      json.add(check, run(check, options, log));
    }
    json.addProperty("failed", failures(json));
    return json;
  }

  /**
   * One check's object: its results, {@code ok}, {@code seconds}, and {@code error} when it threw
   * or found a mismatch.
   */
  public static JsonObject run(String check, Options options, PrintStream log) {
    Supplier<JsonObject> body =
        switch (check) {
          case "device" -> () -> device(options.expectGpu());
          case "golden" -> () -> golden(options.model(), options.golden());
          case "steps-f32" -> () -> steps(options, BaseDtype.F32, log);
          case "steps-f16" -> () -> steps(options, BaseDtype.F16, log);
          case "transfer" -> () -> transfer(options);
          default -> throw new IllegalArgumentException("unknown check '" + check + "'");
        };
    log.printf("device-checks: %s...%n", check);
    long start = System.nanoTime();
    JsonObject json;
    try {
      json = body.get();
    } catch (RuntimeException | LinkageError | OutOfMemoryError e) {
      json = new JsonObject();
      json.addProperty("error", describe(e));
    }
    json.addProperty("ok", !json.has("error"));
    json.addProperty("seconds", (System.nanoTime() - start) / 1e9);
    log.printf(
        "device-checks: %s %s%s%n",
        check,
        json.get("ok").getAsBoolean() ? "ok" : "FAILED: ",
        json.has("error") ? json.get("error").getAsString() : "");
    return json;
  }

  /** The error and its causes (DJL wraps the linker's message in a generic one). */
  static String describe(Throwable error) {
    StringBuilder text = new StringBuilder(error.toString());
    for (Throwable cause = error.getCause(); cause != null; cause = cause.getCause()) {
      text.append("; caused by ").append(cause);
    }
    return text.toString();
  }

  private static int failures(JsonObject json) {
    if (json.has("ok")) {
      return json.get("ok").getAsBoolean() ? 0 : 1;
    }
    int failed = 0;
    for (Map.Entry<String, JsonElement> entry : json.entrySet()) {
      if (entry.getValue().isJsonObject()) {
        failed += failures(entry.getValue().getAsJsonObject());
      }
    }
    return failed;
  }

  private static JsonObject device(boolean expectGpu) {
    Engine engine = Engine.getEngine("PyTorch");
    Device device = engine.defaultDevice();
    JsonObject json = new JsonObject();
    json.addProperty("default_device", device.toString());
    json.addProperty("on_gpu", device.isGpu());
    json.addProperty("engine", engine.getEngineName() + " " + engine.getVersion());
    json.addProperty("libtorch", LibUtils.getLibtorchPath());
    json.addProperty("engine_has_cuda", engine.hasCapability("CUDA"));
    json.addProperty("cuda_runtime_gpus", CudaUtils.getGpuCount());
    json.addProperty("torch_threads", JniUtils.getNumThreads());
    json.add("machine", new GsonBuilder().create().toJsonTree(BenchReport.describeMachine()));
    if (device.isGpu()) {
      json.addProperty("cuda_version", CudaUtils.getCudaVersionString());
      json.addProperty("compute_capability", CudaUtils.getComputeCapability(device.getDeviceId()));
      json.addProperty("memory_total_bytes", CudaUtils.getGpuMemory(device).getMax());
      json.addProperty("memory_used_bytes", CudaUtils.getGpuMemory(device).getUsed());
      json.addProperty("name", nvidiaSmi("name", device.getDeviceId()));
    } else {
      json.addProperty("name", "cpu");
      json.addProperty("memory_total_bytes", Runtime.getRuntime().maxMemory());
    }
    if (expectGpu && !device.isGpu()) {
      json.addProperty(
          "error",
          "expected a GPU (the local torch has CUDA) but the default device is "
              + device
              + ": the engine "
              + (engine.hasCapability("CUDA") ? "has CUDA" : "loaded a libtorch without CUDA")
              + ", the CUDA runtime sees "
              + CudaUtils.getGpuCount()
              + " GPUs (DJL finds libcudart.so through jna.library.path)");
    }
    return json;
  }

  /** A field of {@code nvidia-smi --query-gpu}, or why there is none. */
  private static String nvidiaSmi(String field, int gpu) {
    try {
      Process process =
          new ProcessBuilder(
                  "nvidia-smi", "--query-gpu=" + field, "--format=csv,noheader", "--id=" + gpu)
              .redirectErrorStream(true)
              .start();
      String text = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!process.waitFor(10, TimeUnit.SECONDS) || process.exitValue() != 0) {
        return "unknown (nvidia-smi: " + text.strip() + ")";
      }
      return text.strip();
    } catch (IOException e) {
      return "unknown (no nvidia-smi)";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "unknown (interrupted)";
    }
  }

  private static JsonObject golden(Path modelFolder, Path goldenFile) {
    JsonObject reference;
    try {
      reference = JsonParser.parseString(Files.readString(goldenFile)).getAsJsonObject();
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read " + goldenFile + ": " + e.getMessage(), e);
    }
    JsonObject json = new JsonObject();
    JsonArray cases = new JsonArray();
    boolean allEqual = true;
    try (LanguageModel model = LanguageModel.load(modelFolder, null, BaseDtype.F32, null)) {
      json.addProperty("device", model.manager().getDevice().toString());
      for (JsonElement element : reference.getAsJsonArray("cases")) {
        JsonObject c = element.getAsJsonObject();
        Generator.Generation generation =
            Generator.generate(
                model,
                c.get("prompt").getAsString(),
                c.get("max_new_tokens").getAsInt(),
                Sampler.greedy());
        String text = model.tokenizer().decode(generation.allIds());
        boolean equal = text.equals(c.get("text").getAsString());
        allEqual &= equal;
        JsonObject one = new JsonObject();
        one.addProperty("prompt", c.get("prompt").getAsString());
        one.addProperty("equal", equal);
        one.addProperty("text", text);
        one.addProperty("seconds", generation.seconds());
        cases.add(one);
      }
    }
    json.add("cases", cases);
    json.addProperty("all_equal", allEqual);
    if (!allEqual) {
      json.addProperty("error", "a generation differs from " + goldenFile);
    }
    return json;
  }

  private static JsonObject steps(Options options, BaseDtype base, PrintStream log) {
    BenchConfig config = options.steps();
    Device device = Engine.getEngine("PyTorch").defaultDevice();
    JsonObject json = new JsonObject();
    json.addProperty("device", device.toString());
    json.addProperty("base_dtype", base.toString());
    json.add("config", config.toJson());
    JsonArray results = new JsonArray();
    Map<String, Double> medians = new LinkedHashMap<>();
    try (BufferAllocator allocator = new RootAllocator(options.hostBudgetBytes());
        NDManager manager = NDManager.newBaseManager(device);
        DeviceMemorySampler memory = DeviceMemorySampler.start(device)) {
      json.addProperty("memory_reading", memory.source());
      long[] before = new long[1];
      StepBench.Observer observer =
          new StepBench.Observer() {
            @Override
            public void before(AdapterConfig adapter) {
              if (device.isGpu()) {
                JniUtils.emptyCudaCache();
              }
              memory.reset();
              before[0] = memory.current();
            }

            @Override
            public void after(StepResult result) {
              JsonObject one = result.toJson();
              long peak = memory.peak();
              one.addProperty("device_memory_before_bytes", before[0]);
              one.addProperty("device_memory_peak_bytes", peak);
              one.addProperty("device_memory_growth_bytes", peak - before[0]);
              one.addProperty("accounted_device_adapter_bytes", result.deviceAdapterBytesPeak());
              results.add(one);
              medians.put(result.method(), result.step().median());
            }
          };
      StepBench.run(config, base.dataType(), manager, allocator, log, observer);
    }
    json.add("results", results);
    JsonObject ratios = new JsonObject();
    ratios.addProperty("meft_over_parallel_step", medians.get("meft") / medians.get("parallel"));
    ratios.addProperty("meft_over_lora_step", medians.get("meft") / medians.get("lora"));
    json.add("ratios", ratios);
    return json;
  }

  private static JsonObject transfer(Options options) {
    KernelShape shape = options.steps().kernels();
    try (BufferAllocator allocator = new RootAllocator(options.hostBudgetBytes());
        NDManager manager = NDManager.newBaseManager()) {
      return TransferBench.run(shape, manager, allocator, 3, 20);
    }
  }
}
