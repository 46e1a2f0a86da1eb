package org.meft.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One bench run's figures and the ratios the performance targets are stated in, as a table and as
 * JSON. Every figure is one the run measured; nothing here is estimated.
 */
public record BenchReport(
    BenchConfig config,
    Map<String, String> machine,
    List<StepResult> steps,
    KernelBench.Result kernels,
    double seconds,
    DecodeBench.Result decode) {

  /** A run without the decode section. */
  public BenchReport(
      BenchConfig config,
      Map<String, String> machine,
      List<StepResult> steps,
      KernelBench.Result kernels,
      double seconds) {
    this(config, machine, steps, kernels, seconds, null);
  }

  /**
   * A ratio, the target it is held to, and whether it meets it. {@code fullRunOnly}: the target's
   * threshold holds only at the full run's shapes, so a quick run reports it but cannot judge it:
   * the speed targets (at the quick run's sizes fixed per-call costs dominate), and meft's flat
   * device and bus bytes (the quick shape's router, E x d with E up to 128, is large beside the 256
   * rows a layer moves, and grows with N). Row and parallel-growth targets hold at any shape.
   */
  public record Ratio(String name, double value, String target, boolean met, boolean fullRunOnly) {}

  /** The target of a ratio that is reported, not held to a target. */
  public static final String INFORMATION = "(information)";

  /**
   * Whether this run judges {@code ratio}'s target: all of them but a quick run's full-run ones.
   */
  public boolean judges(Ratio ratio) {
    return !ratio.fullRunOnly() || !config.name().equals(BenchConfig.QUICK);
  }

  /** The targets this run judges and that are not met (what {@code bench --strict} fails on). */
  public List<Ratio> failedTargets() {
    return ratios().stream().filter(r -> judges(r) && !r.met()).toList();
  }

  /** What describes this machine: CPU, cores, memory, Java, threads, load when the run began. */
  public static Map<String, String> describeMachine() {
    Map<String, String> machine = new LinkedHashMap<>();
    machine.put("cpu", cpuInfo("model name").orElse(System.getProperty("os.arch")));
    machine.put("cores", Integer.toString(Runtime.getRuntime().availableProcessors()));
    machine.put("memory", meminfo().orElse("unknown"));
    machine.put(
        "java", System.getProperty("java.vm.name") + " " + System.getProperty("java.version"));
    machine.put(
        "load_average_at_start",
        String.format("%.2f", ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage()));
    return machine;
  }

  private static Optional<String> cpuInfo(String key) {
    try {
      return Files.readAllLines(Path.of("/proc/cpuinfo")).stream()
          .filter(line -> line.startsWith(key))
          .map(line -> line.substring(line.indexOf(':') + 1).trim())
          .findFirst();
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  private static Optional<String> meminfo() {
    try {
      return Files.readAllLines(Path.of("/proc/meminfo")).stream()
          .filter(line -> line.startsWith("MemTotal"))
          .map(line -> line.substring(line.indexOf(':') + 1).trim())
          .findFirst();
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  private Optional<StepResult> step(String method, int size) {
    return steps.stream()
        .filter(s -> s.method().equals(method) && s.adapterSize() == size)
        .findFirst();
  }

  /**
   * The ratios, each with its target; those whose configurations did not run are left out.
   */
  public List<Ratio> ratios() {
    List<Ratio> out = new java.util.ArrayList<>();
    KernelBench.Result k = kernels;
    out.add(atLeast("scoring_over_matmul", k.scoringGflops() / k.matmulGflops(), 0.5));
    out.add(
        new Ratio(
            "key_read_share_of_scoring", k.keyReadShareOfScoring(), INFORMATION, true, false));
    out.add(
        new Ratio(
            "scoring_keys_in_cache_over_matmul",
            k.scoringCachedGflops() / k.matmulGflops(),
            INFORMATION,
            true,
            false));
    out.add(atLeast("gather_over_copy", k.gatherGbps() / k.copyGbps(), 0.5));
    out.add(atLeast("scatter_over_copy", k.scatterGbps() / k.copyGbps(), 0.5));
    out.add(atLeast("adamw_over_copy", k.adamWGbps() / k.copyGbps(), 0.4));
    int small = config.sizes().get(0);
    int large = config.sizes().get(config.sizes().size() - 1);
    String s = Integer.toString(small);
    String l = Integer.toString(large);
    Optional<StepResult> meftSmall = step("meft", small);
    Optional<StepResult> meftLarge = step("meft", large);
    Optional<StepResult> parallelSmall = step("parallel", small);
    Optional<StepResult> parallelLarge = step("parallel", large);
    if (meftSmall.isPresent() && meftLarge.isPresent()) {
      StepResult a = meftSmall.get();
      StepResult b = meftLarge.get();
      double flat = (double) b.deviceAdapterBytesPeak() / a.deviceAdapterBytesPeak();
      out.add(
          new Ratio(
              "meft_device_bytes_" + l + "_over_" + s,
              flat,
              "within [0.9, 1.1]",
              flat >= 0.9 && flat <= 1.1,
              true));
      double h2d = b.hostToDeviceBytesPerStep() / a.hostToDeviceBytesPerStep();
      out.add(
          new Ratio("meft_h2d_" + l + "_over_" + s, h2d, "<= 1.1 (flat in N)", h2d <= 1.1, true));
      double rows =
          steps.stream()
              .filter(x -> x.method().equals("meft"))
              .mapToDouble(StepResult::meanRowsPerLayer)
              .max()
              .orElse(0);
      out.add(
          new Ratio(
              "meft_rows_per_layer_over_max_rows",
              rows / config.maxRows(),
              "<= 1 (h2d bounded by maxRows)",
              rows <= config.maxRows(),
              false));
      // Retrieval should grow as sqrt(N); what the run can refuse is growth like N.
      double growth = (double) large / small;
      double retrieve =
          b.phaseMs().getOrDefault("retrieve", 0.0) / a.phaseMs().getOrDefault("retrieve", 1.0);
      out.add(
          new Ratio(
              "meft_retrieve_ms_" + l + "_over_" + s,
              retrieve,
              String.format("~ sqrt = %.0f, < N's %.0f", Math.sqrt(growth), growth),
              retrieve < growth,
              true));
      out.add(
          new Ratio(
              "meft_step_" + l + "_over_" + s,
              b.step().median() / a.step().median(),
              INFORMATION,
              true,
              false));
    }
    if (parallelSmall.isPresent() && parallelLarge.isPresent()) {
      double growth =
          (double) parallelLarge.get().deviceAdapterBytesPeak()
              / parallelSmall.get().deviceAdapterBytesPeak();
      out.add(
          new Ratio(
              "parallel_device_bytes_" + l + "_over_" + s,
              growth,
              "> 1.1 (grows)",
              growth > 1.1,
              false));
      out.add(
          new Ratio(
              "parallel_step_" + l + "_over_" + s,
              parallelLarge.get().step().median() / parallelSmall.get().step().median(),
              INFORMATION,
              true,
              false));
    }
    if (meftLarge.isPresent() && parallelLarge.isPresent()) {
      double r = meftLarge.get().step().median() / parallelLarge.get().step().median();
      out.add(new Ratio("meft" + l + "_over_parallel" + l + "_step", r, "< 1", r < 1, true));
    }
    int middle = config.sizes().get(config.sizes().size() / 2);
    Optional<StepResult> meftMiddle = step("meft", middle);
    Optional<StepResult> lora = step("lora", 0);
    if (meftMiddle.isPresent() && lora.isPresent()) {
      double r = meftMiddle.get().step().median() / lora.get().step().median();
      out.add(new Ratio("meft" + middle + "_over_lora_step", r, "<= 1.5", r <= 1.5, true));
    }
    return out;
  }

  /** A kernel speed target (the full run judges it). */
  private static Ratio atLeast(String name, double value, double target) {
    return new Ratio(name, value, ">= " + target, value >= target, true);
  }

  public JsonObject toJson() {
    JsonObject json = new JsonObject();
    json.add("config", config.toJson());
    JsonObject m = new JsonObject();
    machine.forEach(m::addProperty);
    m.addProperty("java_threads", kernels.javaThreads());
    m.addProperty("torch_threads", kernels.torchThreads());
    json.add("machine", m);
    JsonArray s = new JsonArray();
    steps.forEach(r -> s.add(r.toJson()));
    json.add("steps", s);
    json.add("kernels", kernels.toJson());
    JsonObject ratios = new JsonObject();
    JsonObject targets = new JsonObject();
    for (Ratio r : ratios()) {
      ratios.addProperty(r.name(), r.value());
      JsonObject t = new JsonObject();
      t.addProperty("target", r.target());
      t.addProperty("met", r.met());
      t.addProperty("judged", judges(r));
      targets.add(r.name(), t);
    }
    json.add("ratios", ratios);
    json.add("targets", targets);
    if (decode != null) {
      json.add("decode", decode.toJson());
    }
    json.addProperty("seconds", seconds);
    return json;
  }

  /** The three tables: training steps, host kernels, ratios. */
  public void printTable(PrintStream out) {
    out.printf(
        "machine: %s, %s cores, %s; java %d threads, torch %d threads; load %s at start%n",
        machine.get("cpu"),
        machine.get("cores"),
        machine.get("memory"),
        kernels.javaThreads(),
        kernels.torchThreads(),
        machine.get("load_average_at_start"));
    {
      var c = config.model();
      out.printf(
          "model: d=%d, %d layers, %d heads / %d KV heads, FFN %d, vocab %d; batch %d x %d tokens;"
              + " meft K=%d P=%d maxRows=%d; lora rank %d; %d warm-up + %d timed steps%n%n",
          c.dim(),
          c.nLayers(),
          c.nHeads(),
          c.nKvHeads(),
          c.hiddenDim(),
          c.vocabSize(),
          config.batchSize(),
          config.seqLen(),
          config.topK(),
          config.probes(),
          config.maxRows(),
          config.loraRank(),
          config.warmupSteps(),
          config.timedSteps());
    }
    out.printf(
        "%-15s %8s %15s %9s %10s %10s %9s %9s %8s %8s %8s %8s %8s%n",
        "config",
        "step s",
        "min-max",
        "tokens/s",
        "dev MiB",
        "host MiB",
        "h2d MiB",
        "d2h MiB",
        "route",
        "retr.",
        "gather",
        "scatter",
        "rest ms");
    for (StepResult r : steps) {
      out.printf(
          "%-15s %8.3f %15s %9.0f %10.1f %10.1f %9.1f %9.1f %8.1f %8.1f %8.1f %8.1f %8.0f%n",
          r.label(),
          r.step().median(),
          String.format("%.3f-%.3f", r.step().min(), r.step().max()),
          r.tokensPerSecond(),
          mib(r.deviceAdapterBytesPeak()),
          mib(r.hostStoreBytes()),
          r.hostToDeviceBytesPerStep() / (1 << 20),
          r.deviceToHostBytesPerStep() / (1 << 20),
          r.phaseMs().getOrDefault("route", 0.0),
          r.phaseMs().getOrDefault("retrieve", 0.0),
          r.phaseMs().getOrDefault("gather", 0.0),
          r.phaseMs().getOrDefault("scatter", 0.0),
          r.phaseMs().getOrDefault("rest", 0.0));
    }
    KernelShape ks = kernels.shape();
    out.printf(
        "%nhost kernels: N=%d d=%d, %d tokens x P=%d of E=%d experts (R=%d), S=%d rows;"
            + " %d warm-up + %d rounds, interleaved%n",
        ks.rows(),
        ks.dim(),
        ks.tokens(),
        ks.probes(),
        ks.experts(),
        ks.rowsPerExpert(),
        ks.selected(),
        ks.warmup(),
        ks.repetitions());
    out.printf("%-22s %10s %19s %12s%n", "kernel", "median ms", "min-max ms", "rate");
    kernel(out, "scoring", kernels.scoring(), kernels.scoringGflops(), "GFLOP/s");
    kernel(out, "key read (of scoring)", kernels.keyRead(), kernels.keyReadGbps(), "GB/s");
    kernel(
        out,
        "scoring, keys in cache",
        kernels.scoringCached(),
        kernels.scoringCachedGflops(),
        "GFLOP/s");
    kernel(
        out,
        "retrieval (+top-K)",
        kernels.retrieval(),
        ks.scoringFlops() / kernels.retrieval().median() / 1e9,
        "GFLOP/s");
    kernel(out, "matmul (torch)", kernels.matmul(), kernels.matmulGflops(), "GFLOP/s");
    kernel(out, "gather", kernels.gather(), kernels.gatherGbps(), "GB/s");
    kernel(out, "scatter-add", kernels.scatter(), kernels.scatterGbps(), "GB/s");
    kernel(out, "sparse AdamW", kernels.adamW(), kernels.adamWGbps(), "GB/s");
    kernel(out, "memory copy", kernels.copy(), kernels.copyGbps(), "GB/s");
    out.printf("%n%-38s %9s  %-30s %s%n", "ratio", "value", "target", "met");
    int judged = 0;
    int unjudged = 0;
    for (Ratio r : ratios()) {
      String met = r.met() ? "yes" : "NO";
      if (r.target().equals(INFORMATION)) {
        met = "";
      } else if (judges(r)) {
        judged++;
      } else {
        unjudged++;
        met = (r.met() ? "yes" : "no") + " (the full run judges)";
      }
      out.printf("%-38s %9.3f  %-30s %s%n", r.name(), r.value(), r.target(), met);
    }
    out.printf(
        "%d of %d targets this run judges are met%s%n",
        judged - failedTargets().size(),
        judged,
        unjudged == 0 ? "" : "; " + unjudged + " more only the full run judges");
    if (decode != null) {
      decode.printTable(out);
    }
  }

  private static void kernel(PrintStream out, String name, Sample s, double rate, String unit) {
    out.printf(
        "%-22s %10.2f %19s %7.1f %s%n",
        name,
        s.median() * 1e3,
        String.format("%.2f-%.2f", s.min() * 1e3, s.max() * 1e3),
        rate,
        unit);
  }

  private static double mib(long bytes) {
    return bytes / (double) (1 << 20);
  }
}
