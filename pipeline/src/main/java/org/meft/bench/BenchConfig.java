package org.meft.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.util.List;
import org.meft.model.LlamaConfig;

/**
 * What one {@code bin/meft bench} run measures: the model shape and batch of the training steps,
 * the adapter sizes N, the meft settings, the steps and repetitions, and the kernels' sizes. Every
 * default is in {@link #full()} and {@link #quick()}.
 *
 * @param model the random LLaMA trained
 * @param batchSize sequences per step
 * @param seqLen tokens per sequence
 * @param sizes the adapter sizes N for meft and parallel
 * @param topK meft K, rows per token
 * @param probes meft P, experts per token (E = ceil(sqrt N))
 * @param maxRows meft S_max, rows per layer per step
 * @param loraRank the LoRA baseline's rank (on q, k, v, o)
 * @param warmupSteps untimed training steps per configuration
 * @param timedSteps timed training steps per configuration
 * @param kernels the host kernels' sizes (N is the largest of sizes)
 */
public record BenchConfig(
    String name,
    LlamaConfig model,
    int batchSize,
    int seqLen,
    List<Integer> sizes,
    int topK,
    int probes,
    int maxRows,
    int loraRank,
    int warmupSteps,
    int timedSteps,
    KernelShape kernels) {

  public BenchConfig {
    sizes = List.copyOf(sizes);
    if (batchSize < 1 || seqLen < 2 || seqLen > model.maxSeqLen()) {
      throw new IllegalArgumentException(
          "batchSize must be >= 1 and seqLen in [2, " + model.maxSeqLen() + "]");
    }
    if (sizes.isEmpty() || warmupSteps < 0 || timedSteps < 1) {
      throw new IllegalArgumentException("need sizes, warmupSteps >= 0 and timedSteps >= 1");
    }
  }

  /** The quick run's name. */
  public static final String QUICK = "quick";

  private static final List<Integer> SIZES = List.of(4096, 16384, 65536);

  /**
   * The full run: a LLaMA of d = 1024, 4 layers, 16 heads with 4 KV heads, FFN 2816, vocabulary
   * 4096 (small, so that the layers and not the output head dominate the step, as in a deep model),
   * batch 4 x 256 tokens; K = 64, P = 8, S_max = 1024.
   */
  public static BenchConfig full() {
    LlamaConfig model = llama(1024, 2816, 4, 16, 4, 4096, 256);
    return new BenchConfig(
        "full",
        model,
        4,
        256,
        SIZES,
        64,
        8,
        1024,
        16,
        1,
        4,
        new KernelShape(65536, 1024, 1024, 8, 256, 64, 1024, 3, 9));
  }

  /**
   * A smaller run for CI smoke tests (under two minutes on two cores): d = 256, 2 layers, batch 2 x
   * 64 tokens, N = 1,024 to 16,384, K = 32, S_max = 256.
   */
  public static BenchConfig quick() {
    LlamaConfig model = llama(256, 704, 2, 4, 2, 2048, 64);
    return new BenchConfig(
        QUICK,
        model,
        2,
        64,
        List.of(1024, 4096, 16384),
        32,
        8,
        256,
        16,
        2,
        3,
        new KernelShape(16384, 256, 128, 8, 128, 32, 256, 30, 15));
  }

  private static LlamaConfig llama(
      int dim, int hidden, int layers, int heads, int kvHeads, int vocab, int seq) {
    return new LlamaConfig(
        dim,
        hidden,
        layers,
        heads,
        kvHeads,
        dim / heads,
        vocab,
        seq,
        1e-5f,
        10000f,
        false,
        1,
        List.of(2));
  }

  /** This run with other adapter sizes and step counts (the device checks run one size). */
  public BenchConfig with(List<Integer> sizes, int warmupSteps, int timedSteps) {
    return new BenchConfig(
        name,
        model,
        batchSize,
        seqLen,
        sizes,
        topK,
        probes,
        maxRows,
        loraRank,
        warmupSteps,
        timedSteps,
        kernels);
  }

  /** Tokens one training step trains on. */
  public int tokensPerStep() {
    return batchSize * seqLen;
  }

  public JsonObject toJson() {
    JsonObject json = new JsonObject();
    json.addProperty("name", name);
    JsonObject m = new JsonObject();
    m.addProperty("dim", model.dim());
    m.addProperty("ffn", model.hiddenDim());
    m.addProperty("layers", model.nLayers());
    m.addProperty("heads", model.nHeads());
    m.addProperty("kv_heads", model.nKvHeads());
    m.addProperty("vocab", model.vocabSize());
    json.add("model", m);
    json.addProperty("batch_size", batchSize);
    json.addProperty("seq_len", seqLen);
    json.addProperty("tokens_per_step", tokensPerStep());
    JsonArray n = new JsonArray();
    sizes.forEach(n::add);
    json.add("adapter_sizes", n);
    json.addProperty("top_k", topK);
    json.addProperty("probes", probes);
    json.addProperty("max_rows", maxRows);
    json.addProperty("lora_rank", loraRank);
    json.addProperty("warmup_steps", warmupSteps);
    json.addProperty("timed_steps", timedSteps);
    return json;
  }
}
