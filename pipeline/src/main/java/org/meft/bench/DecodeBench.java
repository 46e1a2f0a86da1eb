package org.meft.bench;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.meft.generate.DecodeMeter;
import org.meft.generate.Generator;
import org.meft.generate.Sampler;
import org.meft.load.RandomLlama;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;

/**
 * Greedy decoding throughput, measured in one run: single-stream tokens/s (one prompt at a time),
 * batched tokens/s at each batch size, the ratios batched / single, and the engine calls per
 * decoded token ({@link DecodeMeter}); beside them, the yardstick: the same greedy decoding of the
 * same prompts by plain loops on one thread ({@link LoopDecoder}, llama2.c's way), so that the
 * single-stream rate reads as a share of what this machine does without per-call costs. Prompts are
 * BOS plus 3 to 18 random tokens; a sequence that emits a stop token stops early, and only
 * generated tokens count.
 */
public final class DecodeBench {
  /** Single-stream decoding before the timed runs, at least. */
  static final long WARM_UP_NANOS = 5_000_000_000L;

  /** The loop decoder decodes the prompts in turn for at least this long (after 1 s of warm-up). */
  static final long LOOP_NANOS = 2_000_000_000L;

  /** Batch sizes measured beside single-stream decoding. */
  public static final List<Integer> BATCHES = List.of(8, 32);

  /**
   * The decoding thread's CPU time: with one PyTorch thread every engine call runs on the calling
   * thread, so tokens per CPU second is the throughput the code reaches whatever else the machine
   * runs (wall-clock rates fall with the load average).
   */
  private static final ThreadMXBean CPU = ManagementFactory.getThreadMXBean();

  private DecodeBench() {}

  /** One model's figures. */
  public record Row(
      String model,
      int singlePrompts,
      double singleTokensPerSecond,
      double singleCallsPerToken,
      List<Integer> batches,
      List<Double> batchedTokensPerSecond,
      List<Double> batchedCallsPerToken,
      double singleTokensPerCpuSecond,
      List<Double> batchedTokensPerCpuSecond,
      double loopTokensPerSecond) {
    public JsonObject toJson() {
      JsonObject json = new JsonObject();
      json.addProperty("model", model);
      json.addProperty("single_prompts", singlePrompts);
      json.addProperty("single_tokens_per_s", singleTokensPerSecond);
      json.addProperty("single_engine_calls_per_token", singleCallsPerToken);
      json.addProperty("single_tokens_per_cpu_s", singleTokensPerCpuSecond);
      json.addProperty("loop_tokens_per_s", loopTokensPerSecond);
      json.addProperty("single_to_loop", singleTokensPerSecond / loopTokensPerSecond);
      JsonArray batched = new JsonArray();
      for (int i = 0; i < batches.size(); i++) {
        JsonObject b = new JsonObject();
        b.addProperty("batch", batches.get(i));
        b.addProperty("tokens_per_s", batchedTokensPerSecond.get(i));
        b.addProperty("ratio_to_single", batchedTokensPerSecond.get(i) / singleTokensPerSecond);
        b.addProperty("engine_calls_per_token", batchedCallsPerToken.get(i));
        b.addProperty("tokens_per_cpu_s", batchedTokensPerCpuSecond.get(i));
        batched.add(b);
      }
      json.add("batched", batched);
      return json;
    }
  }

  /** The rows of one run. */
  public record Result(int newTokens, int torchThreads, List<Row> rows) {
    public JsonObject toJson() {
      JsonObject json = new JsonObject();
      json.addProperty("new_tokens", newTokens);
      json.addProperty("torch_threads", torchThreads);
      JsonArray r = new JsonArray();
      rows.forEach(row -> r.add(row.toJson()));
      json.add("models", r);
      return json;
    }

    public void printTable(PrintStream out) {
      out.printf(
          "%ndecode (greedy, %d new tokens, %d torch threads): tokens/s [per CPU second],"
              + " engine arrays per token; the plain-loop decoder's tokens/s%n",
          newTokens, torchThreads);
      for (Row row : rows) {
        out.printf(
            "  %-28s single %8.0f tok/s [%6.0f] (%5.1f calls/token)",
            row.model(),
            row.singleTokensPerSecond(),
            row.singleTokensPerCpuSecond(),
            row.singleCallsPerToken());
        for (int i = 0; i < row.batches().size(); i++) {
          out.printf(
              " | B=%d %8.0f tok/s [%6.0f] x%.1f (%5.1f calls/token)",
              row.batches().get(i),
              row.batchedTokensPerSecond().get(i),
              row.batchedTokensPerCpuSecond().get(i),
              row.batchedTokensPerSecond().get(i) / row.singleTokensPerSecond(),
              row.batchedCallsPerToken().get(i));
        }
        out.printf(
            " | loops %6.0f tok/s (single x%.2f)%n",
            row.loopTokensPerSecond(), row.singleTokensPerSecond() / row.loopTokensPerSecond());
      }
    }
  }

  /** The bench's random model of {@code shape} (float32). */
  public static Row random(LlamaConfig shape, NDManager manager, int newTokens, PrintStream log) {
    try (NDManager sub = manager.newSubManager()) {
      Llama model = RandomLlama.create(shape, 1, sub, DataType.FLOAT32);
      return measure(
          "random d=" + shape.dim() + " x" + shape.nLayers(), model, sub, newTokens, log);
    }
  }

  /** Single-stream, then each batch size, on {@code model}. */
  public static Row measure(
      String name, Llama model, NDManager manager, int newTokens, PrintStream log) {
    LlamaConfig config = model.config();
    int largest = BATCHES.stream().mapToInt(Integer::intValue).max().orElse(1);
    List<long[]> prompts = prompts(config, largest);
    // Warm-up: the single-stream and batched paths each decode before they are timed, so that the
    // JIT has compiled them. On stories260K the rate climbs for seconds (measured: 600 tok/s after
    // 4 prompts, 850 after 2,000 tokens), so single-stream decoding warms up for a fixed time.
    int singles = 8;
    long warmUpEnd = System.nanoTime() + WARM_UP_NANOS;
    for (int i = 0; i < singles || System.nanoTime() < warmUpEnd; i++) {
      run(model, manager, List.of(prompts.get(i % prompts.size())), newTokens);
    }
    run(model, manager, prompts.subList(0, BATCHES.get(0)), newTokens);
    DecodeMeter single = new DecodeMeter();
    long begin = System.nanoTime();
    long cpuBegin = CPU.getCurrentThreadCpuTime();
    for (long[] prompt : prompts.subList(0, singles)) {
      Generator.generateBatch(
          model, manager, List.of(prompt), newTokens, List.of(Sampler.greedy()), single);
    }
    double singleRate = single.tokens() / ((System.nanoTime() - begin) / 1e9);
    double singleCpuRate = single.tokens() / ((CPU.getCurrentThreadCpuTime() - cpuBegin) / 1e9);
    log.printf(
        "bench: decode %s single %.0f tok/s (%.0f per CPU second)%n",
        name, singleRate, singleCpuRate);
    List<Double> rates = new ArrayList<>();
    List<Double> cpuRates = new ArrayList<>();
    List<Double> calls = new ArrayList<>();
    for (int b : BATCHES) {
      DecodeMeter meter = new DecodeMeter();
      long start = System.nanoTime();
      long cpuStart = CPU.getCurrentThreadCpuTime();
      Generator.generateBatch(model, manager, prompts.subList(0, b), newTokens, greedy(b), meter);
      double rate = meter.tokens() / ((System.nanoTime() - start) / 1e9);
      cpuRates.add(meter.tokens() / ((CPU.getCurrentThreadCpuTime() - cpuStart) / 1e9));
      rates.add(rate);
      calls.add(meter.callsPerDecodedToken());
      log.printf("bench: decode %s B=%d %.0f tok/s%n", name, b, rate);
    }
    double loopRate = loopRate(model, prompts.subList(0, singles), newTokens);
    log.printf("bench: decode %s plain loops %.0f tok/s%n", name, loopRate);
    return new Row(
        name,
        singles,
        singleRate,
        single.callsPerDecodedToken(),
        BATCHES,
        rates,
        calls,
        singleCpuRate,
        cpuRates,
        loopRate);
  }

  /**
   * The {@link LoopDecoder}'s tokens/s: the prompts in turn, for 1 s of warm-up and then for at
   * least {@link #LOOP_NANOS} (at least one prompt each time).
   */
  private static double loopRate(Llama model, List<long[]> prompts, int newTokens) {
    LoopDecoder loops = new LoopDecoder(model);
    long warmUpEnd = System.nanoTime() + 1_000_000_000L;
    for (int i = 0; i == 0 || System.nanoTime() < warmUpEnd; i++) {
      loops.greedy(prompts.get(i % prompts.size()), newTokens);
    }
    long tokens = 0;
    long begin = System.nanoTime();
    long elapsed = 0;
    for (int i = 0; i == 0 || elapsed < LOOP_NANOS; i++) {
      tokens += loops.greedy(prompts.get(i % prompts.size()), newTokens).length;
      elapsed = System.nanoTime() - begin;
    }
    return tokens / (elapsed / 1e9);
  }

  private static void run(Llama model, NDManager manager, List<long[]> prompts, int newTokens) {
    Generator.generateBatch(model, manager, prompts, newTokens, greedy(prompts.size()));
  }

  private static List<Sampler> greedy(int n) {
    List<Sampler> samplers = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      samplers.add(Sampler.greedy());
    }
    return samplers;
  }

  /** n prompts: BOS and 3 to 18 tokens drawn from the vocabulary above the special ids. */
  static List<long[]> prompts(LlamaConfig config, int n) {
    Random random = new Random(17);
    List<long[]> prompts = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      long[] prompt = new long[4 + (i * 5) % 16];
      prompt[0] = config.bosId();
      for (int j = 1; j < prompt.length; j++) {
        prompt[j] = 3 + random.nextInt(config.vocabSize() - 3);
      }
      prompts.add(prompt);
    }
    return prompts;
  }
}
