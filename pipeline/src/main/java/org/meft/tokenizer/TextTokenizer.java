package org.meft.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
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

  private TextTokenizer(HuggingFaceTokenizer tokenizer, Path path) {
    this.tokenizer = tokenizer;
    this.path = path;
  }

  /** Opens a {@code tokenizer.json} file, or the one inside a model folder. */
  public static TextTokenizer open(Path tokenizerJson) {
    Path file =
        Files.isDirectory(tokenizerJson) ? tokenizerJson.resolve("tokenizer.json") : tokenizerJson;
    if (!Files.isRegularFile(file)) {
      throw new CheckpointException(file, "tokenizer file not found");
    }
    try {
      return new TextTokenizer(
          HuggingFaceTokenizer.newInstance(
              file, Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false")),
          file);
    } catch (IOException | RuntimeException e) {
      throw new CheckpointException(
          file, "not a valid Hugging Face tokenizer.json: " + e.getMessage(), e);
    }
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
