package org.meft.train;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.meft.model.LlamaConfig;
import org.meft.tokenizer.TextTokenizer;

/**
 * One training sequence: BOS, prompt, target, EOS; the loss covers the target and EOS only.
 *
 * @param tokens the ids
 * @param lossMask true where the token is predicted in the loss (target tokens and EOS)
 */
public record TrainingExample(long[] tokens, boolean[] lossMask) {

  /** Tokenizes one pair; an over-long example loses prompt tokens from the front, never target. */
  public static TrainingExample of(
      String prompt, String target, TextTokenizer tokenizer, LlamaConfig config, int maxLength) {
    long[] promptIds = tokenizer.encode(prompt);
    long[] targetIds = tokenizer.encode(target);
    int targetLength = targetIds.length + 1; // + EOS
    if (targetLength + 1 > maxLength) {
      throw new IllegalArgumentException(
          "target of " + targetLength + " tokens does not fit maxLength " + maxLength);
    }
    int keptPrompt = Math.min(promptIds.length, maxLength - 1 - targetLength);
    long[] tokens = new long[1 + keptPrompt + targetLength];
    boolean[] mask = new boolean[tokens.length];
    tokens[0] = config.bosId();
    System.arraycopy(promptIds, promptIds.length - keptPrompt, tokens, 1, keptPrompt);
    System.arraycopy(targetIds, 0, tokens, 1 + keptPrompt, targetIds.length);
    tokens[tokens.length - 1] = config.eosIds().isEmpty() ? config.bosId() : config.eosIds().get(0);
    Arrays.fill(mask, 1 + keptPrompt, tokens.length, true);
    return new TrainingExample(tokens, mask);
  }

  /**
   * Reads a JSONL file of {@code {"prompt": ..., "target": ...}}; a bad line is an error naming the
   * file, the line number and what is wrong.
   */
  public static List<TrainingExample> readJsonl(
      Path file, TextTokenizer tokenizer, LlamaConfig config, int maxLength) {
    List<TrainingExample> examples = new ArrayList<>();
    try (BufferedReader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      int number = 0;
      while ((line = reader.readLine()) != null) {
        number++;
        if (line.isBlank()) {
          continue;
        }
        String where = file + ":" + number + ": ";
        JsonObject json;
        try {
          json = JsonParser.parseString(line).getAsJsonObject();
        } catch (JsonParseException | IllegalStateException e) {
          throw new IllegalArgumentException(where + "not a JSON object");
        }
        try {
          examples.add(
              of(
                  text(json, "prompt", where),
                  text(json, "target", where),
                  tokenizer,
                  config,
                  maxLength));
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException(
              e.getMessage().startsWith(where) ? e.getMessage() : where + e.getMessage());
        }
      }
    } catch (IOException e) {
      throw new IllegalArgumentException(file + ": cannot read: " + e.getMessage());
    }
    if (examples.isEmpty()) {
      throw new IllegalArgumentException(file + ": no examples");
    }
    return examples;
  }

  private static String text(JsonObject json, String field, String where) {
    JsonElement value = json.get(field);
    if (value == null || !value.isJsonPrimitive() || !value.getAsJsonPrimitive().isString()) {
      throw new IllegalArgumentException(where + "field '" + field + "' must be a string");
    }
    return value.getAsString();
  }
}
