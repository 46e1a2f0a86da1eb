package org.meft.plan;

import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.meft.format.CheckpointException;
import org.meft.load.Llama2cCheckpoint;
import org.meft.model.LlamaConfig;

/**
 * A model's shape and its checkpoint's weight type, read without loading any weight: from a Hugging
 * Face folder's {@code config.json}, a bare {@code config.json}, or a llama2.c file's header.
 *
 * @param config the decoder's shape
 * @param checkpointType the weights' type as stored ({@code torch_dtype}); null when not said
 */
public record ModelShape(LlamaConfig config, DataType checkpointType) {
  private static final String LLAMA = "llama";

  public static ModelShape read(Path path) {
    if (Files.isDirectory(path)) {
      Path configJson = path.resolve("config.json");
      if (!Files.isRegularFile(configJson)) {
        throw new CheckpointException(path, "not a Hugging Face model folder: no config.json");
      }
      return fromConfigJson(configJson);
    }
    if (!Files.exists(path)) {
      throw new CheckpointException(path, "model not found");
    }
    String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
    if (name.endsWith(".json")) {
      return fromConfigJson(path);
    }
    if (name.endsWith(".bin")) {
      return new ModelShape(Llama2cCheckpoint.readConfig(path), DataType.FLOAT32);
    }
    throw new CheckpointException(
        path, "expected a Hugging Face folder, a config.json or a llama2.c .bin file");
  }

  private static ModelShape fromConfigJson(Path configJson) {
    LlamaConfig config = LlamaConfig.fromHuggingFace(configJson);
    try {
      JsonObject json = JsonParser.parseString(Files.readString(configJson)).getAsJsonObject();
      JsonElement modelType = json.get("model_type");
      if (modelType != null
          && !modelType.isJsonNull()
          && !(modelType.isJsonPrimitive() && LLAMA.equals(modelType.getAsString()))) {
        throw new CheckpointException(
            configJson,
            "field 'model_type' is "
                + modelType
                + ": only the LLaMA architecture ('"
                + LLAMA
                + "') is planned and trained");
      }
      JsonElement dtype = json.get("torch_dtype");
      if (dtype == null || dtype.isJsonNull()) {
        return new ModelShape(config, null);
      }
      if (!dtype.isJsonPrimitive() || !dtype.getAsJsonPrimitive().isString()) {
        throw new CheckpointException(
            configJson, "field 'torch_dtype' must be a string, got " + dtype);
      }
      DataType type = dataType(dtype.getAsString());
      if (type == null) {
        throw new CheckpointException(
            configJson,
            "field 'torch_dtype' is " + dtype + ", expected float32, float16 or bfloat16");
      }
      return new ModelShape(config, type);
    } catch (IOException e) {
      throw new CheckpointException(configJson, "cannot read: " + e.getMessage(), e);
    }
  }

  private static DataType dataType(String torchDtype) {
    return switch (torchDtype) {
      case "float32" -> DataType.FLOAT32;
      case "float16" -> DataType.FLOAT16;
      case "bfloat16" -> DataType.BFLOAT16;
      default -> null;
    };
  }
}
