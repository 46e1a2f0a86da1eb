package org.meft.checkpoint;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.meft.format.CheckpointException;
import org.meft.train.RunSpec;
import org.meft.train.TrainerState;

/**
 * A checkpoint's {@code manifest.json}: what was trained ({@code run}, the settings of {@link
 * RunSpec}), on which base model (its {@link ModelFingerprint}), how far ({@code step}), the
 * metrics so far ({@code metrics}, the {@code --json} object of {@code bin/meft train}), what a
 * resumed run needs ({@code trainer_state}: data-order cursor, counters, device optimizer step,
 * losses), which model layers hold adapters ({@code layers}; store file i belongs to the i-th) and
 * every file of the checkpoint ({@code files}). Written last, so a directory with a manifest is
 * complete.
 */
public record CheckpointManifest(
    int formatVersion,
    RunSpec run,
    String baseModelFingerprint,
    int step,
    JsonObject metrics,
    TrainerState trainerState,
    List<Integer> layers,
    List<String> files) {

  public static final String FORMAT = "meft-adapter-checkpoint";
  public static final int FORMAT_VERSION = 1;
  private static final Gson GSON =
      new GsonBuilder()
          .setPrettyPrinting()
          .serializeSpecialFloatingPointValues()
          .disableHtmlEscaping()
          .create();

  public CheckpointManifest {
    layers = List.copyOf(layers);
    files = List.copyOf(files);
  }

  public JsonObject toJson() {
    JsonObject json = new JsonObject();
    json.addProperty("format", FORMAT);
    json.addProperty("format_version", formatVersion);
    json.addProperty("step", step);
    json.add("run", run.toJson());
    JsonObject base = new JsonObject();
    base.addProperty("fingerprint", baseModelFingerprint);
    base.addProperty("fingerprint_method", ModelFingerprint.METHOD);
    json.add("base_model", base);
    JsonArray layerArray = new JsonArray();
    layers.forEach(layerArray::add);
    json.add("layers", layerArray);
    json.add("metrics", metrics);
    json.add("trainer_state", trainerState.toJson());
    JsonArray fileArray = new JsonArray();
    files.forEach(fileArray::add);
    json.add("files", fileArray);
    return json;
  }

  /** The manifest as pretty-printed JSON text. */
  public String toJsonText() {
    return GSON.toJson(toJson()) + "\n";
  }

  /**
   * Reads {@code file}.
   *
   * @throws CheckpointException naming the file: missing, not JSON, another format or version, or a
   *     missing or malformed field
   */
  public static CheckpointManifest read(Path file) {
    String text;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      throw new CheckpointException(
          file, "no manifest: not a checkpoint, or one whose writing was interrupted");
    } catch (IOException e) {
      throw new CheckpointException(file, "cannot read: " + e, e);
    }
    try {
      JsonObject json = JsonParser.parseString(text).getAsJsonObject();
      if (!FORMAT.equals(string(json, "format"))) {
        throw new IllegalArgumentException("format: expected " + FORMAT);
      }
      int version = json.get("format_version").getAsInt();
      if (version != FORMAT_VERSION) {
        throw new IllegalArgumentException(
            "format_version "
                + version
                + " is not supported (this build reads "
                + FORMAT_VERSION
                + ")");
      }
      List<Integer> layers = new ArrayList<>();
      for (JsonElement e : array(json, "layers")) {
        layers.add(e.getAsInt());
      }
      List<String> files = new ArrayList<>();
      for (JsonElement e : array(json, "files")) {
        files.add(e.getAsString());
      }
      return new CheckpointManifest(
          version,
          RunSpec.fromJson(object(json, "run")),
          string(object(json, "base_model"), "fingerprint"),
          json.get("step").getAsInt(),
          object(json, "metrics"),
          TrainerState.fromJson(object(json, "trainer_state")),
          layers,
          files);
    } catch (JsonParseException
        | IllegalStateException
        | IllegalArgumentException
        | NullPointerException
        | UnsupportedOperationException e) {
      throw new CheckpointException(file, "malformed manifest: " + e.getMessage(), e);
    }
  }

  private static JsonObject object(JsonObject json, String field) {
    JsonElement value = json.get(field);
    if (value == null || !value.isJsonObject()) {
      throw new IllegalArgumentException(field + ": expected an object");
    }
    return value.getAsJsonObject();
  }

  private static JsonArray array(JsonObject json, String field) {
    JsonElement value = json.get(field);
    if (value == null || !value.isJsonArray()) {
      throw new IllegalArgumentException(field + ": expected an array");
    }
    return value.getAsJsonArray();
  }

  private static String string(JsonObject json, String field) {
    JsonElement value = json.get(field);
    if (value == null || !value.isJsonPrimitive()) {
      throw new IllegalArgumentException(field + ": expected a string");
    }
    return value.getAsString();
  }
}
