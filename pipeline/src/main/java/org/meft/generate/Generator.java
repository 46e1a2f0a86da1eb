package org.meft.generate;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.meft.load.LanguageModel;
import org.meft.model.KvCache;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.model.Rope;
import org.meft.model.TokenDecoder;
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
    return generateBatch(llama, parent, List.of(promptIds), maxNewTokens, List.of(sampler)).get(0);
  }

  /**
   * Generates up to {@code maxNewTokens} after each of {@code prompts}, with {@code
   * samplers.get(i)} for prompt i: the same tokens, stop reasons and new ids as decoding one prompt
   * at a time (each sampler sees only its own sequence's logits, in order). Each sequence stops on
   * its own.
   *
   * <p>The layout: prompts left-padded to the longest, so that every sequence's next token goes in
   * the same cache column; each sequence has its own positions (RoPE gathered by index from one
   * table) and an attention mask that hides its pad columns. A finished sequence leaves the batch
   * (its cache rows dropped), so it costs nothing afterwards.
   */
  public static List<Generation> generateBatch(
      Llama llama,
      NDManager parent,
      List<long[]> prompts,
      int maxNewTokens,
      List<Sampler> samplers) {
    return generateBatch(llama, parent, prompts, maxNewTokens, samplers, new DecodeMeter());
  }

  /** As above, counting the engine's work in {@code meter}. */
  public static List<Generation> generateBatch(
      Llama llama,
      NDManager parent,
      List<long[]> prompts,
      int maxNewTokens,
      List<Sampler> samplers,
      DecodeMeter meter) {
    if (prompts.size() != samplers.size()) {
      throw new IllegalArgumentException(
          prompts.size() + " prompts but " + samplers.size() + " samplers");
    }
    if (maxNewTokens < 0) {
      throw new IllegalArgumentException("max new tokens must be >= 0, got " + maxNewTokens);
    }
    for (long[] prompt : prompts) {
      if (prompt.length == 0) {
        throw new IllegalArgumentException("the prompt must hold at least one token (BOS)");
      }
    }
    LlamaConfig config = llama.config();
    Set<Long> stop = StopTokens.of(llama);

    long begin = System.nanoTime();
    int n = prompts.size();
    Generation[] generations = new Generation[n];
    long[][] generated = new long[n][];
    StopReason[] reasons = new StopReason[n];
    List<Integer> running = new ArrayList<>();
    int width = 0;
    int longestBudget = 0;
    for (int i = 0; i < n; i++) {
      long[] prompt = prompts.get(i);
      int budget = Math.max(Math.min(maxNewTokens, config.maxSeqLen() - prompt.length), 0);
      if (budget < maxNewTokens) {
        LOG.warn(
            "prompt ({} tokens) + {} new tokens exceed the model's {} positions; generating {}",
            prompt.length,
            maxNewTokens,
            config.maxSeqLen(),
            budget);
      }
      generated[i] = new long[budget];
      reasons[i] = budget < maxNewTokens ? StopReason.MODEL_LENGTH : StopReason.MAX_NEW_TOKENS;
      if (budget == 0) {
        generations[i] = new Generation(prompt, new long[0], reasons[i], 0);
      } else {
        running.add(i);
        width = Math.max(width, prompt.length);
        longestBudget = Math.max(longestBudget, budget);
      }
    }
    if (!running.isEmpty()) {
      decode(
          llama,
          parent,
          prompts,
          samplers,
          stop,
          running,
          width,
          longestBudget,
          generated,
          reasons,
          generations,
          begin,
          meter);
    }
    double seconds = (System.nanoTime() - begin) / 1e9;
    LOG.info(
        "generated {} tokens for {} prompts in {} s",
        Arrays.stream(generations).mapToInt(g -> g.newIds().length).sum(),
        n,
        String.format("%.3f", seconds));
    return List.of(generations);
  }

  /**
   * Decodes the {@code running} prompts (indices into prompts) together, left-padded to {@code
   * width} columns, and fills in their generations.
   */
  private static void decode(
      Llama llama,
      NDManager parent,
      List<long[]> prompts,
      List<Sampler> samplers,
      Set<Long> stop,
      List<Integer> running,
      int width,
      int longestBudget,
      long[][] generated,
      StopReason[] reasons,
      Generation[] generations,
      long begin,
      DecodeMeter meter) {
    int b = running.size();
    int[] rows = running.stream().mapToInt(Integer::intValue).toArray(); // batch row -> prompt
    int[] pad = new int[b]; // pad columns at the left of each row
    int[] count = new int[b];
    long[][] feed = new long[b][width];
    for (int r = 0; r < b; r++) {
      long[] prompt = prompts.get(rows[r]);
      pad[r] = width - prompt.length;
      System.arraycopy(prompt, 0, feed[r], pad[r], prompt.length); // pads are token 0, masked
    }
    boolean greedy = running.stream().allMatch(i -> samplers.get(i).isGreedy());
    try (NDManager manager = parent.newSubManager();
        KvCache cache = new KvCache(manager, llama.config().nLayers(), width + longestBudget);
        TokenDecoder decoder = new TokenDecoder(llama, manager)) {
      ParameterStore ps = new ParameterStore(manager, false);
      Rope table = llama.ropeTable(manager);
      NDArray positions = null; // [B, 1] int64 once one-token passes start, then advanced in place
      NDArray visible = null; // [B, 1, 1, capacity] float32: the pad columns and later ones -inf
      NDArray zero = manager.zeros(new Shape(1));
      NDArray one = manager.ones(new Shape(1), DataType.INT64);
      while (b > 0) {
        long[] next = new long[b];
        try (NDManager step = manager.newSubManager()) {
          int t = feed[0].length;
          NDArray logits;
          if (t == 1 && cache.length() > 0) {
            int column = cache.length();
            if (positions == null) {
              positions = manager.create(positions(pad, column, 1), new Shape(b, 1));
              visible = manager.create(visible(pad, column, cache.capacity()));
              visible = visible.reshape(b, 1, 1, cache.capacity());
            }
            visible.set(new NDIndex().addAllDim(3).addSliceDim(column, column + 1), zero);
            NDArray tokens = step.create(flatten(feed), new Shape(b));
            logits = decoder.logits(ps, tokens, table.gather(positions), visible, cache);
            positions.addi(one);
          } else {
            NDArray tokens = step.create(flatten(feed), new Shape(b, t));
            Rope rope =
                table.gather(step.create(positions(pad, cache.length(), t), new Shape(b, t)));
            NDArray mask = mask(step, pad, cache.length(), t);
            logits = llama.forwardLast(ps, tokens, rope, mask, cache); // [B, V]
          }
          if (greedy) {
            next = logits.argMax(-1).toType(DataType.INT64, false).toLongArray();
          } else {
            float[] all = logits.toType(DataType.FLOAT32, false).toFloatArray();
            int v = all.length / b;
            for (int r = 0; r < b; r++) {
              next[r] =
                  samplers.get(rows[r]).nextInPlace(Arrays.copyOfRange(all, r * v, (r + 1) * v));
            }
          }
          meter.pass(t, b, meter.countsNext() ? step.getManagedArrays().size() : -1);
        }
        int kept = 0;
        for (int r = 0; r < b; r++) {
          int i = rows[r];
          boolean done;
          if (stop.contains(next[r])) {
            reasons[i] = StopReason.STOP_TOKEN;
            done = true;
          } else {
            generated[i][count[r]++] = next[r];
            done = count[r] == generated[i].length;
          }
          if (done) {
            double seconds = (System.nanoTime() - begin) / 1e9;
            generations[i] =
                new Generation(
                    prompts.get(i), Arrays.copyOf(generated[i], count[r]), reasons[i], seconds);
          } else {
            kept++;
          }
        }
        if (kept < b) {
          long[] keep = new long[kept];
          for (int r = 0, j = 0; r < b; r++) {
            if (generations[rows[r]] == null) {
              keep[j] = r;
              rows[j] = rows[r];
              pad[j] = pad[r];
              count[j] = count[r];
              next[j] = next[r];
              j++;
            }
          }
          if (kept > 0) {
            cache.keepRows(keep);
            if (positions != null) {
              positions = keptRows(positions, keep);
              visible = keptRows(visible, keep);
            }
          }
          b = kept;
          rows = Arrays.copyOf(rows, b);
          pad = Arrays.copyOf(pad, b);
          count = Arrays.copyOf(count, b);
        }
        feed = new long[b][1];
        for (int r = 0; r < b; r++) {
          feed[r][0] = next[r];
        }
      }
    }
  }

  /** The rows {@code keep} of {@code array}, in {@code array}'s manager; {@code array} closed. */
  private static NDArray keptRows(NDArray array, long[] keep) {
    NDManager manager = array.getManager();
    try (NDManager scratch = manager.newSubManager()) {
      NDArray rows = array.get(new NDIndex("{}", scratch.create(keep)));
      rows.attach(manager);
      array.close();
      return rows;
    }
  }

  /**
   * The one-token passes' mask [B * capacity], row by row: 0 on columns [pad, length) of each row,
   * -inf on its pads and on the columns not written yet (each pass shows its own column first).
   */
  private static float[] visible(int[] pad, int length, int capacity) {
    float[] mask = new float[pad.length * capacity];
    Arrays.fill(mask, Float.NEGATIVE_INFINITY);
    for (int r = 0; r < pad.length; r++) {
      Arrays.fill(mask, r * capacity + pad[r], r * capacity + length, 0f);
    }
    return mask;
  }

  private static long[] flatten(long[][] rows) {
    int t = rows[0].length;
    long[] flat = new long[rows.length * t];
    for (int r = 0; r < rows.length; r++) {
      System.arraycopy(rows[r], 0, flat, r * t, t);
    }
    return flat;
  }

  /** Each row's positions [B * T] for columns [start, start + T): column - pad, 0 on pads. */
  private static long[] positions(int[] pad, int start, int t) {
    long[] positions = new long[pad.length * t];
    for (int r = 0; r < pad.length; r++) {
      for (int c = 0; c < t; c++) {
        positions[r * t + c] = Math.max(start + c - pad[r], 0);
      }
    }
    return positions;
  }

  /**
   * The attention mask [B, 1, 1, T, start + T] of queries in columns [start, start + T): a query
   * sees the columns up to its own, except pads; a pad query sees itself, so that its (unused) row
   * stays finite. Null when nothing is hidden (one new column, no pads).
   */
  private static NDArray mask(NDManager manager, int[] pad, int start, int t) {
    int b = pad.length;
    int all = start + t;
    if (t == 1 && Arrays.stream(pad).allMatch(p -> p == 0)) {
      return null;
    }
    float[] mask = new float[b * t * all];
    for (int r = 0; r < b; r++) {
      for (int i = 0; i < t; i++) {
        int query = start + i;
        int offset = (r * t + i) * all;
        Arrays.fill(mask, offset + query + 1, offset + all, Float.NEGATIVE_INFINITY);
        if (query >= pad[r]) {
          Arrays.fill(mask, offset, offset + pad[r], Float.NEGATIVE_INFINITY);
        } else {
          Arrays.fill(mask, offset, offset + query, Float.NEGATIVE_INFINITY);
        }
      }
    }
    return manager.create(mask, new Shape(b, 1, 1, t, all));
  }
}
