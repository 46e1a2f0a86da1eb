package org.meft.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.meft.format.CheckpointException;

/**
 * A Hugging Face {@code tokenizer.json} through DJL's tokenizer. Encoding never adds special
 * tokens: callers place BOS themselves, so the same code serves tokenizers with and without a BOS
 * template. Decoding drops special tokens.
 */
public final class TextTokenizer implements AutoCloseable {
  private final HuggingFaceTokenizer tokenizer;
  private final Path path;
  private final int vocabularySize;

  private TextTokenizer(HuggingFaceTokenizer tokenizer, Path path, int vocabularySize) {
    this.tokenizer = tokenizer;
    this.path = path;
    this.vocabularySize = vocabularySize;
  }

  /** Opens a {@code tokenizer.json} file, or the one inside a model folder. */
  public static TextTokenizer open(Path tokenizerJson) {
    Path file =
        Files.isDirectory(tokenizerJson) ? tokenizerJson.resolve("tokenizer.json") : tokenizerJson;
    if (!Files.isRegularFile(file)) {
      throw new CheckpointException(file, "tokenizer file not found");
    }
    try {
      int size = vocabularySize(file);
      return new TextTokenizer(
          HuggingFaceTokenizer.newInstance(
              file, Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false")),
          file,
          size);
    } catch (IOException | RuntimeException e) {
      throw new CheckpointException(
          file,
          "not a valid Hugging Face tokenizer.json: "
              + String.valueOf(e.getMessage()).lines().findFirst().orElse(""),
          e);
    }
  }

  /**
   * One more than the largest id the tokenizer can give: of its model's vocabulary (an object of
   * token to id, or a list whose index is the id) and of its added tokens.
   */
  private static int vocabularySize(Path file) throws IOException {
    JsonObject json = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
    long max = -1;
    JsonElement model = json.get("model");
    JsonElement vocab =
        model != null && model.isJsonObject() ? model.getAsJsonObject().get("vocab") : null;
    if (vocab != null && vocab.isJsonObject()) {
      for (JsonElement id : vocab.getAsJsonObject().asMap().values()) {
        max = Math.max(max, id.getAsLong());
      }
    } else if (vocab != null && vocab.isJsonArray()) {
      max = vocab.getAsJsonArray().size() - 1L;
    }
    JsonElement added = json.get("added_tokens");
    if (added != null && added.isJsonArray()) {
      for (JsonElement token : added.getAsJsonArray()) {
        max = Math.max(max, token.getAsJsonObject().get("id").getAsLong());
      }
    }
    return (int) Math.min(Integer.MAX_VALUE, max + 1);
  }

  /** One more than the largest id {@link #encode} can give. */
  public int vocabularySize() {
    return vocabularySize;
  }

  /** The ids of {@code text}, without special tokens. */
  public long[] encode(String text) {
    return tokenizer.encode(text, false, false).getIds();
  }

  /** The text of {@code ids}, special tokens dropped. */
  public String decode(long[] ids) {
    return tokenizer.decode(ids, true);
  }

  public Path path() {
    return path;
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
