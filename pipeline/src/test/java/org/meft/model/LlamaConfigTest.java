package org.meft.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.format.CheckpointException;

class LlamaConfigTest {

  @Test
  void huggingFaceConfigRoundTrips(@TempDir Path dir) throws Exception {
    LlamaConfig config =
        new LlamaConfig(64, 172, 5, 8, 4, 8, 512, 512, 1e-5f, 500000f, false, 1, List.of(2, 7));
    Path file = dir.resolve("config.json");
    Files.writeString(file, config.toHuggingFace().toString());
    assertEquals(config, LlamaConfig.fromHuggingFace(file));
  }

  @Test
  void mistralStyleDefaultsApply(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("config.json");
    Files.writeString(
        file,
        "{\"hidden_size\": 32, \"intermediate_size\": 64, \"num_hidden_layers\": 2,"
            + " \"num_attention_heads\": 4, \"vocab_size\": 100, \"eos_token_id\": 2}");
    LlamaConfig config = LlamaConfig.fromHuggingFace(file);
    assertEquals(4, config.nKvHeads());
    assertEquals(8, config.headDim());
    assertEquals(10000f, config.ropeTheta());
  }

  @Test
  void badValuesNameTheFieldAndTheFile(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("config.json");
    Files.writeString(
        file,
        "{\"hidden_size\": 32, \"intermediate_size\": 64, \"num_hidden_layers\": 2,"
            + " \"num_attention_heads\": 4, \"num_key_value_heads\": 3, \"vocab_size\": 100}");
    CheckpointException e =
        assertThrows(CheckpointException.class, () -> LlamaConfig.fromHuggingFace(file));
    assertTrue(
        e.getMessage().contains("config.json") && e.getMessage().contains("nKvHeads"),
        e.getMessage());

    Files.writeString(file, "{\"hidden_size\": 32}");
    e = assertThrows(CheckpointException.class, () -> LlamaConfig.fromHuggingFace(file));
    assertTrue(e.getMessage().contains("missing required field"), e.getMessage());

    Files.writeString(file, "not json");
    assertThrows(CheckpointException.class, () -> LlamaConfig.fromHuggingFace(file));
  }

  @Test
  void featuresThisDecoderDoesNotComputeAreRefused(@TempDir Path dir) throws Exception {
    String base =
        "\"hidden_size\": 32, \"intermediate_size\": 64, \"num_hidden_layers\": 2,"
            + " \"num_attention_heads\": 4, \"vocab_size\": 100";
    Path file = dir.resolve("config.json");
    for (String extra :
        List.of(
            "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}",
            "\"attention_bias\": true",
            "\"hidden_act\": \"gelu\"")) {
      Files.writeString(file, "{" + base + ", " + extra + "}");
      CheckpointException e =
          assertThrows(CheckpointException.class, () -> LlamaConfig.fromHuggingFace(file), extra);
      assertTrue(e.getMessage().contains("not supported"), e.getMessage());
    }
  }

  @Test
  void invalidShapesAreRefused() {
    assertThrows(IllegalArgumentException.class, () -> LlamaConfig.of(30, 64, 2, 4, 2, 100, 16));
    assertThrows(IllegalArgumentException.class, () -> LlamaConfig.of(32, 64, 0, 4, 2, 100, 16));
    assertThrows(IllegalArgumentException.class, () -> LlamaConfig.of(32, 64, 2, 4, 3, 100, 16));
  }
}
