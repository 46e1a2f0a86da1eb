package org.meft.model;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.meft.format.CheckpointException;

/**
 * The shape of a LLaMA/Mistral decoder. Field names follow llama2.c; {@link #fromHuggingFace} maps
 * the Hugging Face {@code config.json} keys onto them.
 *
 * @param dim model width D ({@code hidden_size})
 * @param hiddenDim FFN width ({@code intermediate_size})
 * @param nLayers decoder layers
 * @param nHeads query heads H
 * @param nKvHeads key/value heads (grouped-query attention when fewer than H)
 * @param headDim Dh, usually D / H
 * @param vocabSize V
 * @param maxSeqLen the longest sequence the model was trained for
 * @param normEps RMSNorm epsilon
 * @param ropeTheta RoPE base
 * @param tiedEmbeddings whether the output head reuses the token embedding
 * @param bosId beginning-of-sequence token id
 * @param eosIds end-of-sequence token ids (generation stops at any of them)
 */
public record LlamaConfig(
    int dim,
    int hiddenDim,
    int nLayers,
    int nHeads,
    int nKvHeads,
    int headDim,
    int vocabSize,
    int maxSeqLen,
    float normEps,
    float ropeTheta,
    boolean tiedEmbeddings,
    int bosId,
    List<Integer> eosIds) {

  public LlamaConfig {
    positive("dim", dim);
    positive("hiddenDim", hiddenDim);
    positive("nLayers", nLayers);
    positive("nHeads", nHeads);
    positive("nKvHeads", nKvHeads);
    positive("headDim", headDim);
    positive("vocabSize", vocabSize);
    positive("maxSeqLen", maxSeqLen);
    if (nHeads % nKvHeads != 0) {
      throw new IllegalArgumentException(
          "nHeads (" + nHeads + ") must be a multiple of nKvHeads (" + nKvHeads + ")");
    }
    if (headDim % 2 != 0) {
      throw new IllegalArgumentException("headDim must be even for RoPE, got " + headDim);
    }
    if (!(normEps > 0) || !(ropeTheta > 0)) {
      throw new IllegalArgumentException(
          "normEps and ropeTheta must be > 0, got " + normEps + " and " + ropeTheta);
    }
    if (bosId < 0 || bosId >= vocabSize) {
      throw new IllegalArgumentException("bosId must be in [0, " + vocabSize + "), got " + bosId);
    }
    for (int eos : eosIds) {
      if (eos < 0 || eos >= vocabSize) {
        throw new IllegalArgumentException("eosId must be in [0, " + vocabSize + "), got " + eos);
      }
    }
    eosIds = List.copyOf(eosIds);
  }

  private static void positive(String field, int value) {
    if (value <= 0) {
      throw new IllegalArgumentException(field + " must be > 0, got " + value);
    }
  }

  /** A standard LLaMA shape: Dh = D / H, theta 10000, eps 1e-5, BOS 1, EOS 2, tied head. */
  public static LlamaConfig of(
      int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int vocabSize, int seqLen) {
    if (dim % nHeads != 0) {
      throw new IllegalArgumentException(
          "dim (" + dim + ") must be a multiple of nHeads (" + nHeads + ")");
    }
    return new LlamaConfig(
        dim,
        hiddenDim,
        nLayers,
        nHeads,
        nKvHeads,
        dim / nHeads,
        vocabSize,
        seqLen,
        1e-5f,
        10000f,
        true,
        1,
        List.of(2));
  }

  /** Key/value width: nKvHeads * headDim. */
  public int kvDim() {
    return nKvHeads * headDim;
  }

  /** Query heads sharing one key/value head. */
  public int groupSize() {
    return nHeads / nKvHeads;
  }

  /** Reads a Hugging Face {@code config.json} (LlamaForCausalLM or MistralForCausalLM). */
  public static LlamaConfig fromHuggingFace(Path configJson) {
    JsonObject json;
    try {
      json = JsonParser.parseString(Files.readString(configJson)).getAsJsonObject();
    } catch (IOException e) {
      throw new CheckpointException(configJson, "cannot read: " + e.getMessage(), e);
    } catch (JsonParseException | IllegalStateException e) {
      throw new CheckpointException(configJson, "not a JSON object: " + e.getMessage(), e);
    }
    refuseUnsupported(json, configJson);
    try {
      int dim = requiredInt(json, "hidden_size", configJson);
      int nHeads = requiredInt(json, "num_attention_heads", configJson);
      List<Integer> eos = new ArrayList<>();
      JsonElement eosElement = json.get("eos_token_id");
      if (eosElement instanceof JsonArray array) {
        array.forEach(e -> eos.add(e.getAsInt()));
      } else if (eosElement != null && !eosElement.isJsonNull()) {
        eos.add(eosElement.getAsInt());
      }
      return new LlamaConfig(
          dim,
          requiredInt(json, "intermediate_size", configJson),
          requiredInt(json, "num_hidden_layers", configJson),
          nHeads,
          optionalInt(json, "num_key_value_heads", nHeads),
          optionalInt(json, "head_dim", nHeads == 0 ? 0 : dim / nHeads),
          requiredInt(json, "vocab_size", configJson),
          optionalInt(json, "max_position_embeddings", 2048),
          optionalFloat(json, "rms_norm_eps", 1e-6f),
          optionalFloat(json, "rope_theta", 10000f),
          json.has("tie_word_embeddings") && json.get("tie_word_embeddings").getAsBoolean(),
          optionalInt(json, "bos_token_id", 1),
          eos);
    } catch (IllegalArgumentException | ClassCastException | IllegalStateException e) {
      throw new CheckpointException(configJson, e.getMessage(), e);
    }
  }

  /**
   * Features of other LLaMA variants that this decoder does not compute; loading such a model would
   * silently give wrong outputs, so it is refused instead.
   */
  private static void refuseUnsupported(JsonObject json, Path file) {
    String activation = json.has("hidden_act") ? json.get("hidden_act").getAsString() : "silu";
    if (!activation.equals("silu") && !activation.equals("swish")) {
      throw new CheckpointException(
          file, "hidden_act '" + activation + "' is not supported (silu)");
    }
    for (String bias : List.of("attention_bias", "mlp_bias")) {
      if (json.has(bias) && json.get(bias).getAsBoolean()) {
        throw new CheckpointException(file, bias + " = true is not supported (bias-free LLaMA)");
      }
    }
    JsonElement scaling = json.get("rope_scaling");
    if (scaling != null && !scaling.isJsonNull()) {
      throw new CheckpointException(
          file, "rope_scaling " + scaling + " is not supported (plain RoPE with rope_theta only)");
    }
  }

  /** The same shape with the output head tied to (or separate from) the token embedding. */
  public LlamaConfig withTiedEmbeddings(boolean tied) {
    return new LlamaConfig(
        dim, hiddenDim, nLayers, nHeads, nKvHeads, headDim, vocabSize, maxSeqLen, normEps,
        ropeTheta, tied, bosId, eosIds);
  }

  /** The Hugging Face {@code config.json} for this shape. */
  public JsonObject toHuggingFace() {
    JsonObject json = new JsonObject();
    JsonArray architectures = new JsonArray();
    architectures.add("LlamaForCausalLM");
    json.add("architectures", architectures);
    json.addProperty("model_type", "llama");
    json.addProperty("hidden_size", dim);
    json.addProperty("intermediate_size", hiddenDim);
    json.addProperty("num_hidden_layers", nLayers);
    json.addProperty("num_attention_heads", nHeads);
    json.addProperty("num_key_value_heads", nKvHeads);
    json.addProperty("head_dim", headDim);
    json.addProperty("vocab_size", vocabSize);
    json.addProperty("max_position_embeddings", maxSeqLen);
    json.addProperty("rms_norm_eps", normEps);
    json.addProperty("rope_theta", ropeTheta);
    json.addProperty("hidden_act", "silu");
    json.addProperty("tie_word_embeddings", tiedEmbeddings);
    json.addProperty("bos_token_id", bosId);
    if (eosIds.size() == 1) {
      json.addProperty("eos_token_id", eosIds.get(0));
    } else {
      JsonArray eos = new JsonArray();
      eosIds.forEach(eos::add);
      json.add("eos_token_id", eos);
    }
    json.addProperty("attention_bias", false);
    json.addProperty("mlp_bias", false);
    json.addProperty("torch_dtype", "float32");
    return json;
  }

  private static int requiredInt(JsonObject json, String key, Path file) {
    JsonElement value = json.get(key);
    if (value == null || value.isJsonNull()) {
      throw new CheckpointException(file, "missing required field '" + key + "'");
    }
    return value.getAsInt();
  }

  private static int optionalInt(JsonObject json, String key, int fallback) {
    JsonElement value = json.get(key);
    return value == null || value.isJsonNull() ? fallback : value.getAsInt();
  }

  private static float optionalFloat(JsonObject json, String key, float fallback) {
    JsonElement value = json.get(key);
    return value == null || value.isJsonNull() ? fallback : value.getAsFloat();
  }
}
