package org.meft.load;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import org.meft.format.CheckpointException;
import org.meft.format.SafetensorsFolder;
import org.meft.format.SafetensorsWriter;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;

/**
 * Reads a Hugging Face LLaMA/Mistral folder: {@code config.json} and the weights in {@code
 * model.safetensors}, or sharded with {@code model.safetensors.index.json}; F32, F16 and BF16 are
 * converted to the compute type. Every tensor's shape is checked against the config before its data
 * is read.
 */
public final class HuggingFaceCheckpoint {
  private HuggingFaceCheckpoint() {}

  public static Llama load(Path folder, NDManager manager, DataType dataType) {
    LlamaConfig config = readConfig(folder);
    try (SafetensorsFolder weights = SafetensorsFolder.open(folder)) {
      // Every weight present with its shape before any layer is built or any data read.
      for (Llama.Weight weight : Llama.weightShapes(config)) {
        weights.check(weight.name(), weight.shape());
      }
      Llama model = new Llama(config);
      for (Llama.Weight weight : model.weights()) {
        weight.parameter().setArray(weights.load(weight.name(), weight.shape(), manager, dataType));
      }
      return model;
    }
  }

  /** The shape in the folder's {@code config.json}; no weight is read. */
  public static LlamaConfig readConfig(Path folder) {
    Path configJson = folder.resolve("config.json");
    if (!Files.isRegularFile(configJson)) {
      throw new CheckpointException(folder, "not a Hugging Face model folder: no config.json");
    }
    return LlamaConfig.fromHuggingFace(configJson);
  }

  /**
   * The type the folder's weights are stored in (that of its embedding), or null when the folder
   * has no readable weights (loading then names the problem).
   */
  public static DataType storedType(Path folder) {
    try (SafetensorsFolder weights = SafetensorsFolder.open(folder)) {
      return DataType.fromSafetensors(weights.info("model.embed_tokens.weight").dtype());
    } catch (RuntimeException e) {
      return null;
    }
  }

  /**
   * Writes {@code model} as a Hugging Face folder: {@code config.json} and the weights in {@code
   * storeType}, in one {@code model.safetensors} or, when {@code maxShardBytes > 0}, in shards of
   * at most that size with an index. The tokenizer files are the caller's.
   */
  public static void save(Llama model, Path folder, DataType storeType, long maxShardBytes) {
    try {
      Files.createDirectories(folder);
      JsonObject config = model.config().toHuggingFace();
      config.addProperty("torch_dtype", torchDtype(storeType));
      writeJson(folder.resolve("config.json"), config);
    } catch (IOException e) {
      throw new CheckpointException(folder, "cannot write: " + e.getMessage(), e);
    }
    Map<String, NDArray> tensors = new LinkedHashMap<>();
    for (Llama.Weight weight : model.weights()) {
      tensors.put(weight.name(), weight.parameter().getArray());
    }
    if (maxShardBytes > 0) {
      SafetensorsWriter.writeSharded(folder, tensors, storeType, maxShardBytes);
    } else {
      SafetensorsWriter.write(
          folder.resolve("model.safetensors"), tensors, storeType, Map.of("format", "pt"));
    }
  }

  /** Writes {@code json} pretty-printed, atomically (a temporary file, then a rename). */
  static void writeJson(Path file, JsonObject json) throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.writeString(tmp, new GsonBuilder().setPrettyPrinting().create().toJson(json) + "\n");
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  private static String torchDtype(DataType storeType) {
    return switch (storeType) {
      case FLOAT32 -> "float32";
      case FLOAT16 -> "float16";
      case BFLOAT16 -> "bfloat16";
      default -> throw new IllegalArgumentException("cannot store weights as " + storeType);
    };
  }
}
