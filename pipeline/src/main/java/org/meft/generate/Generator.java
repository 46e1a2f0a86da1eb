package org.meft.generate;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.meft.load.LanguageModel;
import org.meft.model.KvCache;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.tokenizer.SequenceLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Autoregressive decoding with a KV cache: the prompt goes through the model once, then each new
 * token alone. Stops after {@code maxNewTokens}, at the model's length limit, or when the model
 * emits EOS or BOS (a BOS starts a new, unrelated document, as in llama2.c's training data).
 */
public final class Generator {
  private static final Logger LOG = LoggerFactory.getLogger(Generator.class);

  /** Why decoding ended. */
  public enum StopReason {
    /** The model emitted EOS or BOS (not included in the new tokens). */
    STOP_TOKEN,
    /** {@code maxNewTokens} were generated. */
    MAX_NEW_TOKENS,
    /** The sequence reached the model's {@code maxSeqLen} positions. */
    MODEL_LENGTH
  }

  /** The prompt (BOS included), the new tokens, and why decoding ended. */
  public record Generation(long[] promptIds, long[] newIds, StopReason stopReason, double seconds) {
    public long[] allIds() {
      long[] all = Arrays.copyOf(promptIds, promptIds.length + newIds.length);
      System.arraycopy(newIds, 0, all, promptIds.length, newIds.length);
      return all;
    }
  }

  private Generator() {}

  /**
   * Generates from the evaluation prompt of {@code prompt} ({@link SequenceLayout#prompt}): BOS and
   * the prompt's ids, prompt tokens dropped from the front so that the prompt and {@code
   * maxNewTokens} fit the model's positions, as the evaluation job does.
   */
  public static Generation generate(
      LanguageModel model, String prompt, int maxNewTokens, Sampler sampler) {
    long[] text = model.tokenizer().encode(prompt);
    SequenceLayout layout = SequenceLayout.of(model.config());
    long[] ids =
        layout.prompt(text, SequenceLayout.promptBudget(model.config().maxSeqLen(), maxNewTokens));
    int dropped = text.length - (ids.length - (layout.hasBos() ? 1 : 0));
    if (dropped > 0) {
      LOG.warn(
          "the prompt's first {} of {} tokens are dropped to leave room for {} new tokens in the"
              + " model's {} positions",
          dropped,
          text.length,
          maxNewTokens,
          model.config().maxSeqLen());
    }
    return generate(model.llama(), model.manager(), ids, maxNewTokens, sampler);
  }

  /** Generates up to {@code maxNewTokens} after {@code promptIds}. */
  public static Generation generate(
      Llama llama, NDManager parent, long[] promptIds, int maxNewTokens, Sampler sampler) {
    LlamaConfig config = llama.config();
    if (promptIds.length == 0) {
      throw new IllegalArgumentException("the prompt must hold at least one token (BOS)");
    }
    if (maxNewTokens < 0) {
      throw new IllegalArgumentException("max new tokens must be >= 0, got " + maxNewTokens);
    }
    int budget = Math.min(maxNewTokens, config.maxSeqLen() - promptIds.length);
    if (budget < maxNewTokens) {
      LOG.warn(
          "prompt ({} tokens) + {} new tokens exceed the model's {} positions; generating {}",
          promptIds.length,
          maxNewTokens,
          config.maxSeqLen(),
          Math.max(budget, 0));
    }
    Set<Long> stop = new HashSet<>();
    config.eosIds().forEach(id -> stop.add((long) id));
    stop.add((long) config.bosId());

    long begin = System.nanoTime();
    long[] generated = new long[Math.max(budget, 0)];
    int count = 0;
    StopReason reason = budget < maxNewTokens ? StopReason.MODEL_LENGTH : StopReason.MAX_NEW_TOKENS;
    try (NDManager manager = parent.newSubManager();
        KvCache cache = new KvCache(manager, config.nLayers())) {
      ParameterStore ps = new ParameterStore(manager, false);
      long[] next = promptIds;
      while (count < generated.length) {
        int token;
        try (NDManager step = manager.newSubManager()) {
          NDArray tokens = step.create(next, new Shape(1, next.length));
          NDArray logits = llama.forward(ps, tokens, cache, false); // [1, T, V]
          float[] last =
              logits.get(0, next.length - 1).toType(DataType.FLOAT32, false).toFloatArray();
          token = sampler.nextInPlace(last);
        }
        if (stop.contains((long) token)) {
          reason = StopReason.STOP_TOKEN;
          break;
        }
        generated[count++] = token;
        next = new long[] {token};
      }
    }
    double seconds = (System.nanoTime() - begin) / 1e9;
    LOG.info("generated {} tokens in {} s", count, String.format("%.3f", seconds));
    return new Generation(promptIds, Arrays.copyOf(generated, count), reason, seconds);
  }

  /**
   * Generates up to {@code maxNewTokens} after each of {@code prompts}, with {@code
   * samplers.get(i)} for prompt i: the same tokens, stop reasons and new ids as {@link
   * #generate(Llama, NDManager, long[], int, Sampler)} one prompt at a time. Each sequence stops on
   * its own.
   */
  public static List<Generation> generateBatch(
      Llama llama,
      NDManager parent,
      List<long[]> prompts,
      int maxNewTokens,
      List<Sampler> samplers) {
    if (prompts.size() != samplers.size()) {
      throw new IllegalArgumentException(
          prompts.size() + " prompts but " + samplers.size() + " samplers");
    }
    List<Generation> generations = new ArrayList<>(prompts.size());
    for (int i = 0; i < prompts.size(); i++) {
      generations.add(generate(llama, parent, prompts.get(i), maxNewTokens, samplers.get(i)));
    }
    return generations;
  }
}
