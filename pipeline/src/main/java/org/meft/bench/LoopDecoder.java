package org.meft.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.meft.generate.StopTokens;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;

/**
 * Greedy decoding of a base model with plain loops over float32 arrays on one thread, the way
 * llama2.c's {@code run.c} does it: each token (the prompt's too) goes through the layers alone,
 * keys and values kept in one array per layer, every product a loop of multiply-adds. It is the
 * yardstick the decode bench sets the engine's single-stream rate beside, measured in the same run
 * (the machine's speed at this work without any per-call cost), and an implementation independent
 * of the engine that the tests compare its tokens with.
 *
 * <p>The weights are in the Hugging Face layout: RoPE rotates dimension i of a head with i + Dh/2
 * ({@link org.meft.model.Rope}). Adapters installed on the model are not seen.
 */
public final class LoopDecoder {
  private final LlamaConfig config;
  private final float[] embeddings; // [V * D]
  private final float[][] attentionNorm; // per layer [D]
  private final float[][] wq; // per layer [H Dh * D]
  private final float[][] wk; // per layer [Hkv Dh * D]
  private final float[][] wv; // per layer [Hkv Dh * D]
  private final float[][] wo; // per layer [D * H Dh]
  private final float[][] ffnNorm; // per layer [D]
  private final float[][] gate; // per layer [F * D]
  private final float[][] up; // per layer [F * D]
  private final float[][] down; // per layer [D * F]
  private final float[] finalNorm; // [D]
  private final float[] head; // [V * D]
  private final float[] inverseFrequency; // [Dh / 2]: theta^(-2i / Dh)
  private final Set<Long> stop;

  private final float[] x;
  private final float[] xb;
  private final float[] xb2;
  private final float[] hb;
  private final float[] hb2;
  private final float[] q;
  private final float[] attention; // [maxSeqLen]
  private final float[] logits;
  private final float[][] keyCache; // per layer [maxSeqLen * Hkv Dh]
  private final float[][] valueCache; // per layer [maxSeqLen * Hkv Dh]

  /** A copy of {@code llama}'s base weights as they are now, in float32. */
  public LoopDecoder(Llama llama) {
    config = llama.config();
    Map<String, Llama.Weight> weights = new HashMap<>();
    llama.weights().forEach(w -> weights.put(w.name(), w));
    int n = config.nLayers();
    embeddings = floats(weights.get("model.embed_tokens.weight"));
    attentionNorm = new float[n][];
    wq = new float[n][];
    wk = new float[n][];
    wv = new float[n][];
    wo = new float[n][];
    ffnNorm = new float[n][];
    gate = new float[n][];
    up = new float[n][];
    down = new float[n][];
    for (int l = 0; l < n; l++) {
      String p = "model.layers." + l + ".";
      attentionNorm[l] = floats(weights.get(p + "input_layernorm.weight"));
      wq[l] = floats(weights.get(p + "self_attn.q_proj.weight"));
      wk[l] = floats(weights.get(p + "self_attn.k_proj.weight"));
      wv[l] = floats(weights.get(p + "self_attn.v_proj.weight"));
      wo[l] = floats(weights.get(p + "self_attn.o_proj.weight"));
      ffnNorm[l] = floats(weights.get(p + "post_attention_layernorm.weight"));
      gate[l] = floats(weights.get(p + "mlp.gate_proj.weight"));
      up[l] = floats(weights.get(p + "mlp.up_proj.weight"));
      down[l] = floats(weights.get(p + "mlp.down_proj.weight"));
    }
    finalNorm = floats(weights.get("model.norm.weight"));
    head = config.tiedEmbeddings() ? embeddings : floats(weights.get("lm_head.weight"));
    int half = config.headDim() / 2;
    inverseFrequency = new float[half];
    for (int i = 0; i < half; i++) {
      inverseFrequency[i] =
          1.0f / (float) Math.pow(config.ropeTheta(), (2 * i) / (float) config.headDim());
    }
    stop = StopTokens.of(llama);

    int d = config.dim();
    int kvDim = config.kvDim();
    x = new float[d];
    xb = new float[Math.max(d, config.nHeads() * config.headDim())];
    xb2 = new float[d];
    hb = new float[config.hiddenDim()];
    hb2 = new float[config.hiddenDim()];
    q = new float[config.nHeads() * config.headDim()];
    attention = new float[config.maxSeqLen()];
    logits = new float[config.vocabSize()];
    keyCache = new float[n][config.maxSeqLen() * kvDim];
    valueCache = new float[n][config.maxSeqLen() * kvDim];
  }

  /**
   * The greedy continuation of {@code prompt} (BOS included): up to {@code maxNewTokens} new ids,
   * fewer at a stop token ({@link StopTokens}, not included) or at the model's last position, as
   * {@link org.meft.generate.Generator} decides.
   */
  public long[] greedy(long[] prompt, int maxNewTokens) {
    int budget = Math.max(Math.min(maxNewTokens, config.maxSeqLen() - prompt.length), 0);
    long[] generated = new long[budget];
    if (budget == 0) {
      return generated;
    }
    for (int pos = 0; pos < prompt.length - 1; pos++) {
      forward((int) prompt[pos], pos);
    }
    int token = (int) prompt[prompt.length - 1];
    for (int i = 0; i < budget; i++) {
      int next = argMax(forward(token, prompt.length - 1 + i));
      if (stop.contains((long) next)) {
        return Arrays.copyOf(generated, i);
      }
      generated[i] = next;
      token = next;
    }
    return generated;
  }

  /** The logits [V] of {@code token} at position {@code pos}; caches its keys and values. */
  public float[] forward(int token, int pos) {
    int d = config.dim();
    int dh = config.headDim();
    int kvDim = config.kvDim();
    int f = config.hiddenDim();
    int qDim = config.nHeads() * dh;
    System.arraycopy(embeddings, token * d, x, 0, d);
    for (int l = 0; l < config.nLayers(); l++) {
      rmsNorm(xb, x, attentionNorm[l]);
      float[] k = keyCache[l];
      float[] v = valueCache[l];
      int row = pos * kvDim;
      matVec(q, 0, xb, wq[l], d, qDim);
      matVec(k, row, xb, wk[l], d, kvDim);
      matVec(v, row, xb, wv[l], d, kvDim);
      rotate(q, 0, qDim, pos);
      rotate(k, row, kvDim, pos);

      float scale = (float) (1.0 / Math.sqrt(dh));
      for (int h = 0; h < config.nHeads(); h++) {
        int qAt = h * dh;
        int kvAt = (h / config.groupSize()) * dh;
        for (int t = 0; t <= pos; t++) {
          float score = 0;
          for (int i = 0; i < dh; i++) {
            score += q[qAt + i] * k[t * kvDim + kvAt + i];
          }
          attention[t] = score * scale;
        }
        softmax(attention, pos + 1);
        Arrays.fill(xb, qAt, qAt + dh, 0f);
        for (int t = 0; t <= pos; t++) {
          float a = attention[t];
          for (int i = 0; i < dh; i++) {
            xb[qAt + i] += a * v[t * kvDim + kvAt + i];
          }
        }
      }
      matVec(xb2, 0, xb, wo[l], qDim, d);
      for (int i = 0; i < d; i++) {
        x[i] += xb2[i];
      }

      rmsNorm(xb, x, ffnNorm[l]);
      matVec(hb, 0, xb, gate[l], d, f);
      matVec(hb2, 0, xb, up[l], d, f);
      for (int i = 0; i < f; i++) {
        float g = hb[i];
        hb[i] = g / (1.0f + (float) Math.exp(-g)) * hb2[i]; // silu(gate) * up
      }
      matVec(xb2, 0, hb, down[l], f, d);
      for (int i = 0; i < d; i++) {
        x[i] += xb2[i];
      }
    }
    rmsNorm(x, x, finalNorm);
    matVec(logits, 0, x, head, d, config.vocabSize());
    return logits;
  }

  /** out[at + r] = sum_j w[r * n + j] in[j] for r in [0, rows): W [rows, n] times in [n]. */
  private static void matVec(float[] out, int at, float[] in, float[] w, int n, int rows) {
    for (int r = 0; r < rows; r++) {
      float sum = 0;
      int base = r * n;
      for (int j = 0; j < n; j++) {
        sum += w[base + j] * in[j];
      }
      out[at + r] = sum;
    }
  }

  private void rmsNorm(float[] out, float[] in, float[] weight) {
    int d = weight.length;
    float squares = 0;
    for (int i = 0; i < d; i++) {
      squares += in[i] * in[i];
    }
    float inverseRms = 1.0f / (float) Math.sqrt(squares / d + config.normEps());
    for (int i = 0; i < d; i++) {
      out[i] = weight[i] * (inverseRms * in[i]);
    }
  }

  /** Rotates each head of {@code vector[at, at + width)}: dimension i with i + Dh/2. */
  private void rotate(float[] vector, int at, int width, int pos) {
    int dh = config.headDim();
    int half = dh / 2;
    for (int i = 0; i < half; i++) {
      float angle = pos * inverseFrequency[i];
      float cos = (float) Math.cos(angle);
      float sin = (float) Math.sin(angle);
      for (int h = at; h < at + width; h += dh) {
        float a = vector[h + i];
        float b = vector[h + i + half];
        vector[h + i] = a * cos - b * sin;
        vector[h + i + half] = b * cos + a * sin;
      }
    }
  }

  private static void softmax(float[] values, int n) {
    float max = values[0];
    for (int i = 1; i < n; i++) {
      max = Math.max(max, values[i]);
    }
    float sum = 0;
    for (int i = 0; i < n; i++) {
      values[i] = (float) Math.exp(values[i] - max);
      sum += values[i];
    }
    for (int i = 0; i < n; i++) {
      values[i] /= sum;
    }
  }

  private static int argMax(float[] values) {
    int best = 0;
    for (int i = 1; i < values.length; i++) {
      if (values[i] > values[best]) {
        best = i;
      }
    }
    return best;
  }

  private static float[] floats(Llama.Weight weight) {
    NDArray array = weight.parameter().getArray();
    if (array.getDataType() == DataType.FLOAT32) {
      return array.toFloatArray();
    }
    try (NDArray wide = array.toType(DataType.FLOAT32, true)) {
      return wide.toFloatArray();
    }
  }
}
