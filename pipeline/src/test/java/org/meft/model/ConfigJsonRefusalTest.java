package org.meft.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.meft.testing.Refusal;

/**
 * Malformed {@code config.json} fields, generated here from one valid config by replacing one
 * field's JSON value, each refused with one line naming the file and the field.
 */
class ConfigJsonRefusalTest {
  private static final String VALID =
      "{\"hidden_size\":64,\"intermediate_size\":172,\"num_hidden_layers\":5,"
          + "\"num_attention_heads\":8,\"num_key_value_heads\":4,\"vocab_size\":512,"
          + "\"max_position_embeddings\":512,\"rms_norm_eps\":1e-5,\"rope_theta\":10000.0,"
          + "\"hidden_act\":\"silu\",\"bos_token_id\":1,\"eos_token_id\":2,"
          + "\"tie_word_embeddings\":true,\"attention_bias\":false}";

  @TempDir Path dir;
  private int written;

  private Path config(String text) {
    Path file = dir.resolve("config-" + written++ + ".json");
    try {
      Files.writeString(file, text);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return file;
  }

  /** The valid config with {@code field} set to the JSON text {@code value}. */
  private Refusal field(String field, String value, String... fragments) {
    JsonObject json = JsonParser.parseString(VALID).getAsJsonObject();
    json.add(field, JsonParser.parseString(value));
    Path file = config(json.toString());
    String[] expected =
        Stream.concat(Stream.of(file.toString(), field), Stream.of(fragments))
            .toArray(String[]::new);
    return Refusal.of(field + " = " + value, () -> LlamaConfig.fromHuggingFace(file), expected);
  }

  /** The valid config with the fields of {@code patch} (a JSON object) replaced. */
  private Refusal patch(String patch, String... fragments) {
    JsonObject json = JsonParser.parseString(VALID).getAsJsonObject();
    JsonParser.parseString(patch)
        .getAsJsonObject()
        .entrySet()
        .forEach(e -> json.add(e.getKey(), e.getValue()));
    Path file = config(json.toString());
    String[] expected =
        Stream.concat(Stream.of(file.toString()), Stream.of(fragments)).toArray(String[]::new);
    return Refusal.of(patch, () -> LlamaConfig.fromHuggingFace(file), expected);
  }

  private Refusal whole(String name, String text, String... fragments) {
    Path file = config(text);
    String[] expected =
        Stream.concat(Stream.of(file.toString()), Stream.of(fragments)).toArray(String[]::new);
    return Refusal.of(name, () -> LlamaConfig.fromHuggingFace(file), expected);
  }

  @TestFactory
  Stream<DynamicTest> malformedFields() {
    return Stream.of(
            field("hidden_size", "64.9", "integer"),
            field("hidden_size", "\"64\"", "integer"),
            field("hidden_size", "[64]", "integer"),
            field("hidden_size", "null", "missing"),
            field("hidden_size", "4294967360", "at most"),
            field("hidden_size", "true", "integer"),
            field("hidden_size", "0", "> 0"),
            field("hidden_size", "-64", "> 0"),
            field("intermediate_size", "1e300", "at most"),
            field("num_hidden_layers", "100000000", "at most"),
            field("num_attention_heads", "0", "> 0"),
            field("vocab_size", "-1", "> 0"),
            field("max_position_embeddings", "64.5", "integer"),
            field("num_key_value_heads", "\"4\"", "integer"),
            field("head_dim", "{}", "integer"),
            field("bos_token_id", "1.5", "integer"),
            field("eos_token_id", "\"2\"", "integer"),
            field("eos_token_id", "[2, null]", "integer"),
            field("rms_norm_eps", "\"small\"", "number"),
            field("rope_theta", "[10000]", "number"),
            field("hidden_act", "null", "string"),
            field("hidden_act", "5", "string"),
            field("hidden_act", "\"gelu\"", "not supported"),
            field("attention_bias", "null", "true or false"),
            field("mlp_bias", "\"no\"", "true or false"),
            field("tie_word_embeddings", "\"yes\"", "true or false"),
            patch("{\"hidden_size\": 65536, \"vocab_size\": 65536}", "embedding", "4294967296"),
            whole("empty", "", "JSON object"),
            whole("array", "[64]", "JSON object"),
            whole("truncated", "{\"hidden_size\": 64,", "JSON object"))
        .map(Refusal::test);
  }

  @Test
  void theValidConfigIsRead() {
    LlamaConfig config = LlamaConfig.fromHuggingFace(config(VALID));
    assertEquals(64, config.dim());
    assertEquals(8, config.headDim());
    assertEquals(4, config.nKvHeads());
  }
}
