package org.meft.datasets.prepare;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.TokenizersLibrary;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.meft.tokenizer.TextTokenizer;

/**
 * DJL's Hugging Face tokenizers, loaded at most once per JVM (a Spark executor, or the driver in
 * local mode) and tokenizer file, then shared by every task and thread: loading parses the whole
 * {@code tokenizer.json} and builds a native tokenizer, far too slow to repeat per row or per
 * partition. Entries are keyed by absolute path, size and modification time, so a file rewritten in
 * place is loaded again. They live as long as the JVM, as an executor's would.
 *
 * <p>The tokenizer is configured as {@link TextTokenizer} configures it (no special tokens, no
 * truncation, no padding), so both give the same ids; {@link Entry#encode} asks the native library
 * for the ids alone, where DJL's {@code encode} also builds every token's string and character
 * span: five times faster on SQuAD's passages.
 */
public final class TokenizerCache {
  private static final ConcurrentMap<String, Entry> CACHE = new ConcurrentHashMap<>();
  private static final AtomicInteger LOADS = new AtomicInteger();
  // TextTokenizer.open's options: the ids must be the ones generation and training see.
  private static final Map<String, String> OPTIONS =
      Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false");

  private TokenizerCache() {}

  /**
   * A loaded tokenizer with its token-to-id map of the vocabulary and added tokens.
   *
   * @param file the {@code tokenizer.json}
   * @param tokenizer DJL's tokenizer, without special tokens, truncation or padding
   * @param tokenIds the {@code model.vocab} and {@code added_tokens} of {@code tokenizer.json}
   */
  public record Entry(Path file, HuggingFaceTokenizer tokenizer, Map<String, Integer> tokenIds) {
    /** The ids of {@code text}, without special tokens: {@link TextTokenizer#encode}'s. */
    public long[] encode(String text) {
      long encoding = TokenizersLibrary.LIB.encode(tokenizer.getHandle(), text, false);
      try {
        return TokenizersLibrary.LIB.getTokenIds(encoding);
      } finally {
        TokenizersLibrary.LIB.deleteEncoding(encoding);
      }
    }

    /**
     * The id of {@code token}, or -1 for the empty string (no such token wanted).
     *
     * @throws IllegalArgumentException when the tokenizer has no such token
     */
    public int idOf(String token) {
      if (token.isEmpty()) {
        return -1;
      }
      Integer id = tokenIds.get(token);
      if (id == null) {
        throw new IllegalArgumentException(
            file + " has no token '" + token + "' (give \"\" for none)");
      }
      return id;
    }
  }

  /** The tokenizer of {@code path} (a tokenizer.json or a model folder), loaded on first use. */
  public static Entry get(String path) {
    Path file = Path.of(path).toAbsolutePath().normalize();
    if (Files.isDirectory(file)) {
      file = file.resolve("tokenizer.json");
    }
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("tokenizer file not found: " + file);
    }
    String key;
    try {
      key = file + ":" + Files.size(file) + ":" + Files.getLastModifiedTime(file).toMillis();
    } catch (IOException e) {
      throw new IllegalArgumentException("tokenizer " + file + " cannot be read: " + e, e);
    }
    Path resolved = file;
    return CACHE.computeIfAbsent(key, unused -> load(resolved));
  }

  /** How many tokenizers this JVM has loaded (for tests of the once-per-executor contract). */
  public static int loads() {
    return LOADS.get();
  }

  private static Entry load(Path file) {
    HuggingFaceTokenizer tokenizer;
    try {
      tokenizer = HuggingFaceTokenizer.newInstance(file, OPTIONS);
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException(
          file + ": not a valid Hugging Face tokenizer.json: " + e.getMessage(), e);
    }
    LOADS.incrementAndGet();
    return new Entry(file, tokenizer, Map.copyOf(tokenIds(file)));
  }

  private static Map<String, Integer> tokenIds(Path file) {
    Map<String, Integer> ids = new HashMap<>();
    try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      JsonObject root = JsonParser.parseReader(reader).getAsJsonObject();
      JsonElement vocab = root.getAsJsonObject("model").get("vocab");
      if (vocab != null && vocab.isJsonObject()) {
        vocab
            .getAsJsonObject()
            .entrySet()
            .forEach(e -> ids.put(e.getKey(), e.getValue().getAsInt()));
      } else if (vocab != null && vocab.isJsonArray()) {
        // Unigram: [[piece, score], ...], the id is the position.
        for (int i = 0; i < vocab.getAsJsonArray().size(); i++) {
          ids.put(vocab.getAsJsonArray().get(i).getAsJsonArray().get(0).getAsString(), i);
        }
      }
      JsonElement added = root.get("added_tokens");
      if (added != null && added.isJsonArray()) {
        for (JsonElement token : added.getAsJsonArray()) {
          JsonObject object = token.getAsJsonObject();
          ids.put(object.get("content").getAsString(), object.get("id").getAsInt());
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          file + ": cannot read the vocabulary of tokenizer.json: " + e.getMessage(), e);
    }
    return ids;
  }
}
