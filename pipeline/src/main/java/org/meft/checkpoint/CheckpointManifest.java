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
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.meft.MeftMethod;
import org.meft.adapter.meft.TrainRows;
import org.meft.format.CheckpointException;
import org.meft.train.RunSpec;
import org.meft.train.TrainerState;

/**
 * A checkpoint's {@code manifest.json}: what was trained ({@code run}, the settings of {@link
 * RunSpec}), on which base model (its {@link ModelFingerprint}), how far ({@code step}), the
 * metrics so far ({@code metrics}, the {@code --json} object of {@code bin/meft train}), what a
 * resumed run needs ({@code trainer_state}: data-order cursor, counters, device optimizer step,
 * losses), which model layers hold adapters ({@code layers}; store file i belongs to the i-th) and
 * every file of the checkpoint with its size and SHA-256 ({@code files}, {@link CheckpointFile}).
 * Written last, so a directory with a manifest is complete. Reading checks what a manifest can
 * check alone: the trainer's counters against each other and the run's settings ({@link
 * TrainerState#checkAgainst}), its step against the trainer's, and that it lists exactly the files
 * its method and layers need; {@link AdapterCheckpoint#verify} checks the files against it.
 */
public record CheckpointManifest(
    int formatVersion,
    RunSpec run,
    String baseModelFingerprint,
    int step,
    JsonObject metrics,
    TrainerState trainerState,
    List<Integer> layers,
    List<CheckpointFile> files) {

  public static final String FORMAT = "meft-adapter-checkpoint";

  /** 2: {@code files} records each file's size and SHA-256 (1 listed only the names). */
  public static final int FORMAT_VERSION = 3;

  /**
   * The last format whose manifest had no {@code manifest.sha256} beside it: such a checkpoint,
   * written by an earlier build, still loads (its other files are verified by the manifest).
   */
  static final int LAST_VERSION_WITHOUT_MANIFEST_HASH = 2;

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
    files.forEach(f -> fileArray.add(f.toJson()));
    json.add("files", fileArray);
    return json;
  }

  /** The manifest as pretty-printed JSON text. */
  public String toJsonText() {
    return GSON.toJson(toJson()) + "\n";
  }

  /** The line {@code sha256sum} writes for the manifest's {@code bytes}. */
  static String sha256Line(byte[] bytes) {
    return CheckpointFile.sha256(bytes) + "  " + AdapterCheckpoint.MANIFEST + "\n";
  }

  /**
   * Checks the manifest's {@code bytes} against its {@code manifest.sha256} beside it. A manifest
   * of format {@link #LAST_VERSION_WITHOUT_MANIFEST_HASH} or earlier (an earlier build's) has none;
   * any later one must.
   */
  private static void checkSha256(Path file, byte[] bytes) {
    Path sums = file.resolveSibling(AdapterCheckpoint.MANIFEST_SHA256);
    String recorded;
    try {
      recorded = Files.readString(sums, StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      if (declaredVersion(bytes) <= LAST_VERSION_WITHOUT_MANIFEST_HASH) {
        return;
      }
      throw new CheckpointException(
          sums, "missing, so the manifest cannot be verified (damaged or edited)");
    } catch (IOException e) {
      throw new CheckpointException(sums, "cannot read: " + e, e);
    }
    String actual = sha256Line(bytes);
    if (!recorded.strip().equals(actual.strip())) {
      throw new CheckpointException(
          file,
          "SHA-256 "
              + CheckpointFile.sha256(bytes)
              + " differs from the one in "
              + AdapterCheckpoint.MANIFEST_SHA256
              + " (damaged or edited)");
    }
  }

  /** The manifest's {@code format_version}, or -1 when it has none (not a manifest). */
  private static int declaredVersion(byte[] bytes) {
    try {
      JsonElement version =
          JsonParser.parseString(new String(bytes, StandardCharsets.UTF_8))
              .getAsJsonObject()
              .get("format_version");
      return version == null ? -1 : version.getAsInt();
    } catch (RuntimeException e) {
      return -1;
    }
  }

  /**
   * Reads {@code file}.
   *
   * @throws CheckpointException naming the file: missing, not JSON, another format or version, or a
   *     missing or malformed field
   */
  public static CheckpointManifest read(Path file) {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      throw new CheckpointException(
          file, "no manifest: not a checkpoint, or one whose writing was interrupted");
    } catch (IOException e) {
      throw new CheckpointException(file, "cannot read: " + e, e);
    }
    checkSha256(file, bytes);
    String text = new String(bytes, StandardCharsets.UTF_8);
    try {
      JsonObject json = JsonParser.parseString(text).getAsJsonObject();
      if (!FORMAT.equals(string(json, "format"))) {
        throw new IllegalArgumentException("format: expected " + FORMAT);
      }
      int version = json.get("format_version").getAsInt();
      if (version < LAST_VERSION_WITHOUT_MANIFEST_HASH || version > FORMAT_VERSION) {
        throw new IllegalArgumentException(
            "format_version "
                + version
                + " is not supported (this build reads "
                + LAST_VERSION_WITHOUT_MANIFEST_HASH
                + " to "
                + FORMAT_VERSION
                + ")");
      }
      List<Integer> layers = new ArrayList<>();
      for (JsonElement e : array(json, "layers")) {
        layers.add(e.getAsInt());
      }
      List<CheckpointFile> files = new ArrayList<>();
      for (JsonElement e : array(json, "files")) {
        files.add(CheckpointFile.fromJson(e));
      }
      CheckpointManifest manifest =
          new CheckpointManifest(
              version,
              RunSpec.fromJson(withTrainRows(object(json, "run"))),
              string(object(json, "base_model"), "fingerprint"),
              json.get("step").getAsInt(),
              object(json, "metrics"),
              TrainerState.fromJson(object(json, "trainer_state")),
              layers,
              files);
      manifest.check();
      return manifest;
    } catch (JsonParseException
        | IllegalStateException
        | IllegalArgumentException
        | NullPointerException
        | UnsupportedOperationException e) {
      throw new CheckpointException(file, "malformed manifest: " + e.getMessage(), e);
    }
  }

  /**
   * The paths of the files a checkpoint of this manifest's layers holds, in the order they are
   * written: the adapter, its optimizer state and, with a host store ({@code meft}), one store file
   * per layer.
   */
  public List<String> expectedFiles(boolean hostStore) {
    List<String> expected =
        new ArrayList<>(List.of(AdapterCheckpoint.ADAPTER, AdapterCheckpoint.OPTIMIZER));
    if (hostStore) {
      layers.forEach(layer -> expected.add(AdapterCheckpoint.storeFile(layer)));
    }
    return expected;
  }

  /** Whether the manifest lists store files. */
  public boolean hasHostStore() {
    return files.size() > 2;
  }

  private void check() {
    if (step != trainerState.step()) {
      throw new IllegalArgumentException(
          "step " + step + " differs from trainer_state.step " + trainerState.step());
    }
    trainerState.checkAgainst(run.train());
    List<String> listed = files.stream().map(CheckpointFile::path).toList();
    if (!listed.equals(expectedFiles(false)) && !listed.equals(expectedFiles(true))) {
      throw new IllegalArgumentException(
          "files "
              + listed
              + ": a checkpoint of layers "
              + layers
              + " holds "
              + expectedFiles(true)
              + " (the store files with a host store only)");
    }
  }

  /**
   * A manifest's run; a meft run written before the {@code train-rows} setting trained with the row
   * cap, so that it resumes as it ran (or is refused as another run under {@code all}).
   */
  static JsonObject withTrainRows(JsonObject run) {
    String trainRows = MeftConfig.TRAIN_ROWS.name();
    if (!run.has(trainRows) && run.has("method") && run.get("method").isJsonPrimitive()) {
      if (run.get("method").getAsString().equals(MeftMethod.NAME)) {
        JsonObject copy = run.deepCopy();
        copy.addProperty(trainRows, TrainRows.CAPPED.flagName());
        return copy;
      }
    }
    return run;
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
