package org.meft.model;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
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
    ShapeLimit.WIDTH.check("dim", dim);
    ShapeLimit.FFN_WIDTH.check("hiddenDim", hiddenDim);
    ShapeLimit.LAYERS.check("nLayers", nLayers);
    ShapeLimit.HEADS.check("nHeads", nHeads);
    ShapeLimit.HEADS.check("nKvHeads", nKvHeads);
    ShapeLimit.HEAD_DIM.check("headDim", headDim);
    ShapeLimit.VOCABULARY.check("vocabSize", vocabSize);
    ShapeLimit.POSITIONS.check("maxSeqLen", maxSeqLen);
    if (nHeads % nKvHeads != 0) {
      throw new IllegalArgumentException(
          "nHeads (" + nHeads + ") must be a multiple of nKvHeads (" + nKvHeads + ")");
    }
    if (headDim % 2 != 0) {
      throw new IllegalArgumentException("headDim must be even for RoPE, got " + headDim);
    }
    if (!(normEps > 0) || !(ropeTheta > 0) || Float.isInfinite(normEps + ropeTheta)) {
      throw new IllegalArgumentException(
          "normEps and ropeTheta must be finite and > 0, got " + normEps + " and " + ropeTheta);
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
    ShapeLimit.elements(
        "the token embedding", "vocabulary " + vocabSize + " x width " + dim, vocabSize, dim);
    ShapeLimit.elements(
        "a query projection",
        "heads " + nHeads + " x head dim " + headDim + " x width " + dim,
        nHeads,
        headDim,
        dim);
    ShapeLimit.elements(
        "an FFN projection", "FFN width " + hiddenDim + " x width " + dim, hiddenDim, dim);
    ShapeLimit.elements(
        "the RoPE table", "positions " + maxSeqLen + " x head dim " + headDim, maxSeqLen, headDim);
  }

  /** A standard LLaMA shape: Dh = D / H, theta 10000, eps 1e-5, BOS 1, EOS 2, tied head. */
  public static LlamaConfig of(
      int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int vocabSize, int seqLen) {
    ShapeLimit.HEADS.check("nHeads", nHeads);
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

  /**
   * Reads a Hugging Face {@code config.json} (LlamaForCausalLM or MistralForCausalLM). Every size
   * must be an exact integer (not 64.9, "64" or [64]) within its {@link ShapeLimit}, every other
   * field of its JSON type; an optional field that is absent or null takes its default.
   *
   * @throws CheckpointException naming the file and the field
   */
  public static LlamaConfig fromHuggingFace(Path configJson) {
    JsonObject json;
    try {
      json = JsonParser.parseString(Files.readString(configJson)).getAsJsonObject();
    } catch (NoSuchFileException e) {
      throw new CheckpointException(configJson, "not found");
    } catch (IOException e) {
      throw new CheckpointException(configJson, "cannot read: " + e.getMessage(), e);
    } catch (JsonParseException | IllegalStateException e) {
      throw new CheckpointException(configJson, "not a JSON object: " + e.getMessage(), e);
    }
    try {
      refuseUnsupported(json);
      int dim = size(json, "hidden_size", ShapeLimit.WIDTH, null);
      int nHeads = size(json, "num_attention_heads", ShapeLimit.HEADS, null);
      List<Integer> eos = new ArrayList<>();
      JsonElement eosElement = json.get("eos_token_id");
      if (eosElement instanceof JsonArray array) {
        array.forEach(e -> eos.add(tokenId("eos_token_id", e)));
      } else if (eosElement != null && !eosElement.isJsonNull()) {
        eos.add(tokenId("eos_token_id", eosElement));
      }
      JsonElement bos = json.get("bos_token_id");
      return new LlamaConfig(
          dim,
          size(json, "intermediate_size", ShapeLimit.FFN_WIDTH, null),
          size(json, "num_hidden_layers", ShapeLimit.LAYERS, null),
          nHeads,
          size(json, "num_key_value_heads", ShapeLimit.HEADS, nHeads),
          size(json, "head_dim", ShapeLimit.HEAD_DIM, Math.max(1, dim / nHeads)),
          size(json, "vocab_size", ShapeLimit.VOCABULARY, null),
          size(json, "max_position_embeddings", ShapeLimit.POSITIONS, 2048),
          positiveNumber(json, "rms_norm_eps", 1e-6f),
          positiveNumber(json, "rope_theta", 10000f),
          bool(json, "tie_word_embeddings"),
          bos == null || bos.isJsonNull() ? 1 : tokenId("bos_token_id", bos),
          eos);
    } catch (IllegalArgumentException e) {
      throw new CheckpointException(configJson, e.getMessage(), e);
    }
  }

  /**
   * Features of other LLaMA variants that this decoder does not compute; loading such a model would
   * silently give wrong outputs, so it is refused instead.
   */
  private static void refuseUnsupported(JsonObject json) {
    JsonElement act = json.get("hidden_act");
    if (act != null && !(act.isJsonPrimitive() && act.getAsJsonPrimitive().isString())) {
      throw new IllegalArgumentException("field 'hidden_act' must be a string, got " + act);
    }
    String activation = act == null ? "silu" : act.getAsString();
    if (!activation.equals("silu") && !activation.equals("swish")) {
      throw new IllegalArgumentException(
          "field 'hidden_act' '" + activation + "' is not supported (silu)");
    }
    for (String bias : List.of("attention_bias", "mlp_bias")) {
      if (bool(json, bias)) {
        throw new IllegalArgumentException(bias + " = true is not supported (bias-free LLaMA)");
      }
    }
    JsonElement scaling = json.get("rope_scaling");
    if (scaling != null && !scaling.isJsonNull()) {
      throw new IllegalArgumentException(
          "rope_scaling " + scaling + " is not supported (plain RoPE with rope_theta only)");
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

  /**
   * The size {@code key} within {@code limit}; absent or null gives {@code fallback}, or is refused
   * when there is none.
   */
  private static int size(JsonObject json, String key, ShapeLimit limit, Integer fallback) {
    JsonElement value = json.get(key);
    if (value == null || value.isJsonNull()) {
      if (fallback == null) {
        throw new IllegalArgumentException("missing required field '" + key + "'");
      }
      return fallback;
    }
    BigInteger exact = exactInteger(key, value);
    if (exact.bitLength() > 63) {
      throw new IllegalArgumentException(
          "field '" + key + "' must be at most " + limit.max() + ", got " + value);
    }
    return limit.check("field '" + key + "'", exact.longValueExact());
  }

  /** A token id: an exact integer in [0, 2^31) (its range in the vocabulary is checked later). */
  private static int tokenId(String key, JsonElement value) {
    BigInteger exact = exactInteger(key, value);
    if (exact.signum() < 0 || exact.bitLength() > 31) {
      throw new IllegalArgumentException(
          "field '" + key + "' must be a token id (an integer >= 0), got " + value);
    }
    return exact.intValueExact();
  }

  /** {@code value} as an integer, when it is a JSON number with no fractional part. */
  private static BigInteger exactInteger(String key, JsonElement value) {
    if (value.isJsonPrimitive() && value.getAsJsonPrimitive().isNumber()) {
      try {
        return new BigDecimal(value.getAsString()).toBigIntegerExact();
      } catch (ArithmeticException | NumberFormatException e) {
        // fractional: refused below
      }
    }
    throw new IllegalArgumentException("field '" + key + "' must be an integer, got " + value);
  }

  /** A finite number > 0; absent or null gives {@code fallback}. */
  private static float positiveNumber(JsonObject json, String key, float fallback) {
    JsonElement value = json.get(key);
    if (value == null || value.isJsonNull()) {
      return fallback;
    }
    if (!value.isJsonPrimitive() || !value.getAsJsonPrimitive().isNumber()) {
      throw new IllegalArgumentException("field '" + key + "' must be a number, got " + value);
    }
    float number = value.getAsFloat();
    if (!(number > 0) || Float.isInfinite(number)) {
      throw new IllegalArgumentException(
          "field '" + key + "' must be a finite number > 0, got " + value);
    }
    return number;
  }

  /** A JSON boolean; absent means false. */
  private static boolean bool(JsonObject json, String key) {
    JsonElement value = json.get(key);
    if (value == null) {
      return false;
    }
    if (!value.isJsonPrimitive() || !value.getAsJsonPrimitive().isBoolean()) {
      throw new IllegalArgumentException("field '" + key + "' must be true or false, got " + value);
    }
    return value.getAsBoolean();
  }
}
