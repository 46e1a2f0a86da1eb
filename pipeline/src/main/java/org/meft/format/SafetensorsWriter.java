package org.meft.format;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes safetensors files (the format {@link SafetensorsFile} reads): tensors in map order, each
 * converted to one store type (F32, F16 or BF16), little-endian, with the header JSON padded with
 * spaces to a multiple of 8 bytes so that the data section starts 8-byte aligned.
 *
 * <p>Every file is written to a temporary file in the same folder and then atomically renamed over
 * the target, so a reader never sees a half-written file. BF16 is rounded from float32 in Java
 * (round to nearest even, as PyTorch does) because DJL's PyTorch engine has no bfloat16 type.
 * {@link #writeSharded} follows the Hugging Face layout: {@code model-00001-of-0000N.safetensors}
 * plus {@code model.safetensors.index.json}. Hugging Face {@code transformers} expects {@code
 * {"format": "pt"}} metadata; the sharded writer adds it, callers of {@link #write} pass it
 * themselves where they want it.
 */
public final class SafetensorsWriter {

  public static final String INDEX_FILE = "model.safetensors.index.json";

  private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();
  private static final Gson PRETTY_GSON =
      new GsonBuilder().disableHtmlEscaping().setPrettyPrinting().create();

  @FunctionalInterface
  private interface Body {
    void writeTo(FileChannel out) throws IOException;
  }

  private SafetensorsWriter() {}

  /**
   * Writes {@code tensors} to {@code file}, converting each to {@code storeType}.
   *
   * @param metadata the {@code __metadata__} strings; null or empty writes none
   * @throws IllegalArgumentException if {@code storeType} is not FLOAT32, FLOAT16 or BFLOAT16, or a
   *     tensor name is {@code __metadata__}
   * @throws CheckpointException if the file cannot be written
   */
  public static void write(
      Path file, Map<String, NDArray> tensors, DataType storeType, Map<String, String> metadata) {
    String dtype = dtypeName(storeType);
    byte[] header = header(tensors, storeType, dtype, metadata);
    writeAtomically(
        file,
        out -> {
          ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
          writeFully(out, length.putLong(0, header.length));
          writeFully(out, ByteBuffer.wrap(header));
          for (NDArray array : tensors.values()) {
            writeFully(out, littleEndianBytes(array, storeType));
          }
        });
  }

  /**
   * Writes {@code tensors} in order into shards of at most {@code maxShardBytes} bytes of tensor
   * data each (a larger tensor gets a shard of its own) named like {@code
   * model-00001-of-00003.safetensors}, even when there is only one, then {@code
   * model.safetensors.index.json} mapping every tensor to its shard. The index is written last, so
   * a folder with an index always has all of its shards. Shards of an earlier, differently split
   * save are not removed.
   *
   * @throws IllegalArgumentException if {@code maxShardBytes <= 0} or {@code storeType} is not
   *     FLOAT32, FLOAT16 or BFLOAT16
   * @throws CheckpointException if a file cannot be written
   */
  public static void writeSharded(
      Path folder, Map<String, NDArray> tensors, DataType storeType, long maxShardBytes) {
    if (maxShardBytes <= 0) {
      throw new IllegalArgumentException("maxShardBytes must be positive, got " + maxShardBytes);
    }
    dtypeName(storeType); // rejects an unsupported type before any shard is written
    int elementBytes = storeType.getNumOfBytes();
    List<Map<String, NDArray>> shards = new ArrayList<>();
    Map<String, NDArray> current = new LinkedHashMap<>();
    long currentBytes = 0;
    long totalBytes = 0;
    for (Map.Entry<String, NDArray> e : tensors.entrySet()) {
      long bytes = e.getValue().size() * elementBytes;
      if (!current.isEmpty() && currentBytes + bytes > maxShardBytes) {
        shards.add(current);
        current = new LinkedHashMap<>();
        currentBytes = 0;
      }
      current.put(e.getKey(), e.getValue());
      currentBytes += bytes;
      totalBytes += bytes;
    }
    if (!current.isEmpty() || shards.isEmpty()) {
      shards.add(current);
    }

    JsonObject weightMap = new JsonObject();
    for (int i = 0; i < shards.size(); i++) {
      String shardName =
          String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", i + 1, shards.size());
      write(folder.resolve(shardName), shards.get(i), storeType, Map.of("format", "pt"));
      for (String name : shards.get(i).keySet()) {
        weightMap.addProperty(name, shardName);
      }
    }
    JsonObject meta = new JsonObject();
    meta.addProperty("total_size", totalBytes);
    JsonObject index = new JsonObject();
    index.add("metadata", meta);
    index.add("weight_map", weightMap);
    byte[] json = (PRETTY_GSON.toJson(index) + "\n").getBytes(StandardCharsets.UTF_8);
    writeAtomically(folder.resolve(INDEX_FILE), out -> writeFully(out, ByteBuffer.wrap(json)));
  }

  private static byte[] header(
      Map<String, NDArray> tensors, DataType storeType, String dtype, Map<String, String> meta) {
    JsonObject header = new JsonObject();
    if (meta != null && !meta.isEmpty()) {
      JsonObject m = new JsonObject();
      // sorted: Map.of iterates in a per-JVM order, and the same checkpoint must give the same
      // bytes
      new TreeMap<>(meta).forEach(m::addProperty);
      header.add(SafetensorsFile.METADATA_KEY, m);
    }
    long offset = 0;
    for (Map.Entry<String, NDArray> e : tensors.entrySet()) {
      if (e.getKey().equals(SafetensorsFile.METADATA_KEY)) {
        throw new IllegalArgumentException("a tensor cannot be named " + e.getKey());
      }
      long[] shape = e.getValue().getShape().getShape();
      long bytes = e.getValue().size() * storeType.getNumOfBytes();
      JsonObject entry = new JsonObject();
      entry.addProperty("dtype", dtype);
      JsonArray shapeJson = new JsonArray();
      for (long dim : shape) {
        shapeJson.add(dim);
      }
      entry.add("shape", shapeJson);
      JsonArray offsets = new JsonArray();
      offsets.add(offset);
      offsets.add(offset + bytes);
      entry.add("data_offsets", offsets);
      header.add(e.getKey(), entry);
      offset += bytes;
    }
    byte[] json = GSON.toJson(header).getBytes(StandardCharsets.UTF_8);
    int padded = (json.length + 7) / 8 * 8;
    byte[] out = new byte[padded];
    System.arraycopy(json, 0, out, 0, json.length);
    Arrays.fill(out, json.length, padded, (byte) ' ');
    return out;
  }

  private static ByteBuffer littleEndianBytes(NDArray array, DataType storeType) {
    // DJL's PyTorch engine has no bfloat16 type, so BF16 is narrowed from float32 in Java.
    DataType arrayType = storeType == DataType.BFLOAT16 ? DataType.FLOAT32 : storeType;
    ByteBuffer bytes;
    if (array.getDataType() == arrayType) {
      bytes = array.toByteBuffer();
    } else {
      try (NDArray converted = array.toType(arrayType, false)) {
        bytes = converted.toByteBuffer();
      }
    }
    long expected = array.size() * arrayType.getNumOfBytes();
    if (bytes.remaining() != expected) {
      throw new IllegalStateException(
          "array of shape "
              + array.getShape()
              + " gave "
              + bytes.remaining()
              + " bytes, expected "
              + expected);
    }
    // toByteBuffer returns the tensor's native-order bytes, whatever order the buffer claims.
    bytes.order(ByteOrder.nativeOrder());
    if (storeType == DataType.BFLOAT16) {
      return SafetensorsFile.f32ToBf16(bytes);
    }
    if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
      return SafetensorsFile.swapBytes(bytes, storeType.getNumOfBytes());
    }
    return bytes;
  }

  private static String dtypeName(DataType storeType) {
    return switch (storeType) {
      case FLOAT32 -> "F32";
      case FLOAT16 -> "F16";
      case BFLOAT16 -> "BF16";
      default ->
          throw new IllegalArgumentException(
              "store type must be FLOAT32, FLOAT16 or BFLOAT16, got " + storeType);
    };
  }

  private static void writeAtomically(Path file, Body body) {
    Path tmp = null;
    try {
      Path folder = file.toAbsolutePath().getParent();
      Files.createDirectories(folder);
      tmp = AtomicFiles.createSibling(file);
      try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
        body.writeTo(out);
        out.force(true);
      }
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      tmp = null;
    } catch (IOException e) {
      throw new CheckpointException(file, "cannot write: " + e, e);
    } finally {
      if (tmp != null) {
        try {
          Files.deleteIfExists(tmp);
        } catch (IOException e) {
          // Reporting the original failure matters more than a stray temporary file.
        }
      }
    }
  }

  private static void writeFully(FileChannel out, ByteBuffer buffer) throws IOException {
    while (buffer.hasRemaining()) {
      out.write(buffer);
    }
  }
}
