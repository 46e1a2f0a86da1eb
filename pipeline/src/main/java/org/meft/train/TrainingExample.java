package org.meft.train;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.meft.format.LineReader;
import org.meft.model.LlamaConfig;
import org.meft.tokenizer.SequenceLayout;
import org.meft.tokenizer.TextTokenizer;

/**
 * One training sequence, laid out by {@link SequenceLayout}: {@code [BOS] prompt target [EOS]}; the
 * loss covers the target and EOS only.
 *
 * @param tokens the ids
 * @param lossMask true where the token is predicted in the loss (target tokens and EOS)
 */
public record TrainingExample(long[] tokens, boolean[] lossMask) {

  /**
   * Tokenizes one pair with the model's {@link SequenceLayout#of layout}; an over-long example
   * loses prompt tokens from the front, never target.
   *
   * @throws IllegalArgumentException when BOS, the target and EOS alone are longer than {@code
   *     maxLength}, or when there is nothing to train (an empty target and no EOS id)
   */
  public static TrainingExample of(
      String prompt, String target, TextTokenizer tokenizer, LlamaConfig config, int maxLength) {
    return of(
        SequenceLayout.of(config)
            .pack(tokenizer.encode(prompt), tokenizer.encode(target), maxLength),
        maxLength);
  }

  /**
   * The example of a sequence {@link SequenceLayout#pack packed} within {@code maxLength}.
   *
   * @throws IllegalArgumentException when it does not fit, or trains no token
   */
  public static TrainingExample of(SequenceLayout.Packed sequence, int maxLength) {
    if (!sequence.fits()) {
      throw new IllegalArgumentException(
          "the target needs "
              + sequence.length()
              + " tokens with BOS and EOS, more than maxLength "
              + maxLength);
    }
    // The trainer predicts position t from t - 1: position 0 is never trained.
    boolean trains = false;
    for (int t = 1; t < sequence.lossMask().length; t++) {
      trains |= sequence.lossMask()[t];
    }
    if (!trains) {
      throw new IllegalArgumentException(
          "nothing to train: no target or EOS token after the first position (an empty target"
              + " and no EOS id)");
    }
    return new TrainingExample(sequence.ids(), sequence.lossMask());
  }

  /**
   * Reads a JSONL file of {@code {"prompt": ..., "target": ...}}; a bad line (not JSON, not UTF-8,
   * or over {@link LineReader#MAX_LINE_BYTES}) is an error naming the file, the line number and
   * what is wrong.
   */
  public static List<TrainingExample> readJsonl(
      Path file, TextTokenizer tokenizer, LlamaConfig config, int maxLength) {
    List<TrainingExample> examples = new ArrayList<>();
    try (LineReader lines = LineReader.open(file)) {
      String line;
      while ((line = lines.next()) != null) {
        if (line.isBlank()) {
          continue;
        }
        String where = lines.where();
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
