package org.meft.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.meft.load.LanguageModel;
import org.meft.testing.Shared;

/** Greedy decoding reproduces llama2.c run.c's output for stories260K, through both loaders. */
class GoldenGenerationTest {

  @Test
  void huggingFaceFolderMatchesReference() throws Exception {
    Path folder = Shared.require("models/stories260K-hf");
    try (LanguageModel model = LanguageModel.load(folder, null)) {
      assertGolden(model);
    }
  }

  @Test
  void llama2cCheckpointMatchesReference() throws Exception {
    Path bin = Shared.require("models/stories260K/stories260K.bin");
    Path tokenizer = Shared.require("models/stories260K-hf/tokenizer.json");
    try (LanguageModel model = LanguageModel.load(bin, tokenizer)) {
      assertGolden(model);
    }
  }

  private static void assertGolden(LanguageModel model) throws Exception {
    JsonObject golden =
        JsonParser.parseString(Files.readString(Shared.require("golden/stories260K-greedy.json")))
            .getAsJsonObject();
    for (JsonElement element : golden.getAsJsonArray("cases")) {
      JsonObject c = element.getAsJsonObject();
      Generator.Generation generation =
          Generator.generate(
              model,
              c.get("prompt").getAsString(),
              c.get("max_new_tokens").getAsInt(),
              Sampler.greedy());
      assertEquals(c.get("prompt_tokens").getAsInt(), generation.promptIds().length - 1);
      assertEquals(c.get("text").getAsString(), model.tokenizer().decode(generation.allIds()));
    }
  }
}
