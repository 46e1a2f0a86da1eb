package org.meft.format;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.meft.format.SafetensorsFile.TensorInfo;

/**
 * The weights of a Hugging Face model folder: either {@code model.safetensors.index.json} (whose
 * {@code weight_map} maps each tensor name to a shard file in the same folder) or a single {@code
 * model.safetensors}. The index wins when both exist, as in {@code transformers}.
 *
 * <p>Pickled PyTorch checkpoints ({@code *.bin}, {@code *.pt}, {@code *.pth}) are refused: loading
 * them means unpickling, which can run arbitrary code. {@link #open} validates the index and every
 * shard header up front, so a missing shard or a tensor the index places in the wrong shard fails
 * before any weights are read.
 */
public final class SafetensorsFolder implements AutoCloseable {

  public static final String SINGLE_FILE = "model.safetensors";

  private final Path folder;

  /** The file that names the tensors: the index, or the single file. */
  private final Path source;

  private final Map<String, SafetensorsFile> fileOf;
  private final List<SafetensorsFile> files;
  private final SafetensorsFile.ReadBuffers buffers = new SafetensorsFile.ReadBuffers();

  private SafetensorsFolder(
      Path folder, Path source, Map<String, SafetensorsFile> fileOf, List<SafetensorsFile> files) {
    this.folder = folder;
    this.source = source;
    this.fileOf = Collections.unmodifiableMap(fileOf);
    this.files = List.copyOf(files);
  }

  /**
   * Opens the weights in {@code folder}.
   *
   * @throws CheckpointException if the folder has no safetensors weights (naming any pickled
   *     checkpoint found instead), the index is malformed or names a missing shard, or a shard is
   *     malformed
   */
  public static SafetensorsFolder open(Path folder) {
    if (!Files.isDirectory(folder)) {
      throw new CheckpointException(folder, "not a folder (expected a Hugging Face model folder)");
    }
    Path index = folder.resolve(SafetensorsWriter.INDEX_FILE);
    if (Files.isRegularFile(index)) {
      return openIndexed(folder, index);
    }
    Path single = folder.resolve(SINGLE_FILE);
    if (Files.isRegularFile(single)) {
      SafetensorsFile file = SafetensorsFile.open(single);
      Map<String, SafetensorsFile> fileOf = new LinkedHashMap<>();
      file.tensors().keySet().forEach(name -> fileOf.put(name, file));
      return new SafetensorsFolder(folder, single, fileOf, List.of(file));
    }
    List<String> pickled = pickledCheckpoints(folder);
    if (!pickled.isEmpty()) {
      throw new CheckpointException(
          folder,
          "found only pickled PyTorch checkpoint(s) "
              + pickled
              + ", which are not loaded because unpickling can run arbitrary code; convert them to"
              + " safetensors, e.g. in Python with the safetensors package: from"
              + " safetensors.torch import save_file; save_file(torch.load('pytorch_model.bin',"
              + " weights_only=True), 'model.safetensors')");
    }
    throw new CheckpointException(
        folder, "no " + SINGLE_FILE + " or " + SafetensorsWriter.INDEX_FILE + " in the folder");
  }

  private static SafetensorsFolder openIndexed(Path folder, Path index) {
    Map<String, String> weightMap = readWeightMap(index);
    Map<String, SafetensorsFile> byShard = new LinkedHashMap<>();
    Map<String, SafetensorsFile> fileOf = new LinkedHashMap<>();
    try {
      for (Map.Entry<String, String> e : weightMap.entrySet()) {
        String tensor = e.getKey();
        String shard = e.getValue();
        SafetensorsFile file = byShard.get(shard);
        if (file == null) {
          Path shardPath = folder.resolve(shard).normalize();
          if (!shardPath.startsWith(folder.normalize()) || shardPath.equals(folder.normalize())) {
            throw new CheckpointException(
                index, tensor, "shard '" + shard + "' is not a file inside the model folder");
          }
          if (!Files.isRegularFile(shardPath)) {
            throw new CheckpointException(
                index, tensor, "shard file '" + shard + "' listed in weight_map does not exist");
          }
          file = SafetensorsFile.open(shardPath);
          byShard.put(shard, file);
        }
        if (!file.tensors().containsKey(tensor)) {
          throw new CheckpointException(
              index,
              tensor,
              "weight_map places it in '" + shard + "', but that shard has no such tensor");
        }
        fileOf.put(tensor, file);
      }
    } catch (RuntimeException e) {
      byShard.values().forEach(SafetensorsFile::close);
      throw e;
    }
    return new SafetensorsFolder(folder, index, fileOf, new ArrayList<>(byShard.values()));
  }

  private static Map<String, String> readWeightMap(Path index) {
    JsonElement root;
    try {
      root = JsonParser.parseString(Files.readString(index, StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new CheckpointException(index, "cannot read: " + e, e);
    } catch (JsonParseException e) {
      throw new CheckpointException(
          index, "not valid JSON (" + SafetensorsFile.jsonProblem(e) + ")");
    }
    JsonElement weightMap = root.isJsonObject() ? root.getAsJsonObject().get("weight_map") : null;
    if (weightMap == null || !weightMap.isJsonObject()) {
      throw new CheckpointException(
          index,
          "expected a JSON object with a \"weight_map\" object of tensor name -> shard file");
    }
    Map<String, String> out = new LinkedHashMap<>();
    for (Map.Entry<String, JsonElement> e : weightMap.getAsJsonObject().entrySet()) {
      JsonElement v = e.getValue();
      if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString()) {
        throw new CheckpointException(
            index, e.getKey(), "weight_map value must be a shard file name, found " + v);
      }
      out.put(e.getKey(), v.getAsString());
    }
    return out;
  }

  private static List<String> pickledCheckpoints(Path folder) {
    try (Stream<Path> entries = Files.list(folder)) {
      return entries
          .filter(Files::isRegularFile)
          .map(p -> p.getFileName().toString())
          .filter(
              n -> {
                String lower = n.toLowerCase(Locale.ROOT);
                return lower.endsWith(".bin") || lower.endsWith(".pt") || lower.endsWith(".pth");
              })
          .sorted()
          .toList();
    } catch (IOException e) {
      throw new CheckpointException(folder, "cannot list folder: " + e, e);
    }
  }

  public Path folder() {
    return folder;
  }

  /** Tensor names, in index or file order. */
  public Set<String> names() {
    return fileOf.keySet();
  }

  /**
   * The header entry of {@code name}.
   *
   * @throws CheckpointException if there is no such tensor
   */
  public TensorInfo info(String name) {
    return fileFor(name).tensors().get(name);
  }

  /**
   * Reads tensor {@code name}, checking its stored shape against {@code expectedShape} (the shape
   * config.json implies; null skips the check) before reading any data.
   *
   * @throws CheckpointException if the tensor is missing, has another shape, an unloadable dtype,
   *     or cannot be read
   */
  public NDArray load(String name, Shape expectedShape, NDManager manager, DataType computeType) {
    SafetensorsFile file = fileFor(name);
    if (expectedShape != null) {
      check(name, expectedShape);
    }
    return file.load(name, manager, computeType, buffers);
  }

  /**
   * Checks that tensor {@code name} is present with {@code expectedShape} (the shape config.json
   * implies), reading no data: a loader checks every weight so before building the model.
   *
   * @throws CheckpointException if the tensor is missing or has another shape
   */
  public void check(String name, Shape expectedShape) {
    SafetensorsFile file = fileFor(name);
    TensorInfo info = file.tensors().get(name);
    if (!Arrays.equals(info.shape(), expectedShape.getShape())) {
      throw new CheckpointException(
          file.path(),
          name,
          "shape "
              + Arrays.toString(info.shape())
              + " does not match config.json, expected "
              + Arrays.toString(expectedShape.getShape()));
    }
  }

  private SafetensorsFile fileFor(String name) {
    SafetensorsFile file = fileOf.get(name);
    if (file == null) {
      throw new CheckpointException(
          source, name, "not found among the " + fileOf.size() + " tensors listed");
    }
    return file;
  }

  @Override
  public void close() {
    buffers.close();
    RuntimeException failure = null;
    for (SafetensorsFile file : files) {
      try {
        file.close();
      } catch (RuntimeException e) {
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
    }
    if (failure != null) {
      throw failure;
    }
  }
}
