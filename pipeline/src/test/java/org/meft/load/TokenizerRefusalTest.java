package org.meft.load;

import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.meft.testing.Refusal;
import org.meft.testing.Shared;

/**
 * Tokenizers that do not fit the model, generated here from the shared model's tokenizer, each
 * refused at load with one line naming the tokenizer file and both sizes.
 */
class TokenizerRefusalTest {
  @TempDir Path dir;

  private Path tokenizer(String name, String text) throws IOException {
    Path file = dir.resolve(name + ".json");
    Files.writeString(file, text);
    return file;
  }

  private static Refusal load(String name, Path model, Path tokenizer, String... fragments) {
    String[] expected =
        Stream.concat(Stream.of(tokenizer.toString()), Stream.of(fragments)).toArray(String[]::new);
    return Refusal.of(
        name, () -> LanguageModel.load(model, tokenizer, DataType.FLOAT32).close(), expected);
  }

  @TestFactory
  Stream<DynamicTest> mismatchedTokenizers() throws IOException {
    Path model = Shared.require("models/stories260K-hf");
    String original = Files.readString(model.resolve("tokenizer.json"));
    JsonObject added = JsonParser.parseString(original).getAsJsonObject();
    JsonObject token = new JsonObject();
    token.addProperty("id", 1000);
    token.addProperty("content", "<extra>");
    token.addProperty("single_word", false);
    token.addProperty("lstrip", false);
    token.addProperty("rstrip", false);
    token.addProperty("normalized", false);
    token.addProperty("special", true);
    added.getAsJsonArray("added_tokens").add(token);
    JsonObject learned = JsonParser.parseString(original).getAsJsonObject();
    learned.getAsJsonObject("model").getAsJsonObject("vocab").addProperty("zz", 700);
    return Stream.of(
            load(
                "an added token past the vocabulary",
                model,
                tokenizer("added", added.toString()),
                "1001",
                "512"),
            load(
                "a learned token past the vocabulary",
                model,
                tokenizer("learned", learned.toString()),
                "701",
                "512"),
            load("not JSON", model, tokenizer("garbage", "{\"model\": "), "tokenizer"),
            load("missing", model, dir.resolve("absent.json"), "not found"))
        .map(Refusal::test);
  }
}
