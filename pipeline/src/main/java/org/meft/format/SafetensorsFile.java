package org.meft.format;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/**
 * A safetensors file opened for reading.
 *
 * <p>Format: an 8-byte little-endian unsigned length N, then N bytes of UTF-8 JSON mapping each
 * tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative to the
 * first byte after the header) plus an optional {@code "__metadata__"} object of strings, then the
 * little-endian tensor data.
 *
 * <p>{@link #open} reads and validates the whole header, so every entry's dtype, shape and byte
 * range are known to be consistent with each other and with the file length before any data is
 * read; as in the reference implementation, names are unique and the byte ranges tile the data
 * section exactly (no overlap, no gap, nothing after the last). Dtypes other than F32, F16, BF16
 * and F64 are accepted in the header (so a file holding, say, an I64 buffer can still be opened)
 * but refused by {@link #load}; unknown dtypes are refused by {@link #open}. Arrays returned by
 * {@link #load} own their memory and stay valid after this file is closed.
 */
public final class SafetensorsFile implements AutoCloseable {

  /** The reference implementation's limit; a larger header is a corrupt or hostile file. */
  static final long MAX_HEADER_BYTES = 100_000_000L;

  static final String METADATA_KEY = "__metadata__";

  private static final String LOADABLE = "F32, F16, BF16, F64";

  /**
   * One header entry. {@code begin} and {@code end} are byte offsets relative to the start of the
   * data section (the byte after the header), as in the file.
   */
  public record TensorInfo(String name, String dtype, long[] shape, long begin, long end) {

    public TensorInfo {
      shape = shape.clone();
    }

    @Override
    public long[] shape() {
      return shape.clone();
    }

    /** The shape as a DJL {@link Shape} ({@code []} for a scalar). */
    public Shape djlShape() {
      return new Shape(shape);
    }

    /** Stored size in bytes. */
    public long byteLength() {
      return end - begin;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof TensorInfo t
          && name.equals(t.name)
          && dtype.equals(t.dtype)
          && Arrays.equals(shape, t.shape)
          && begin == t.begin
          && end == t.end;
    }

    @Override
    public int hashCode() {
      return Objects.hash(name, dtype, Arrays.hashCode(shape), begin, end);
    }

    @Override
    public String toString() {
      return name + ": " + dtype + " " + Arrays.toString(shape) + " @ [" + begin + ", " + end + ")";
    }
  }

  private final Path path;
  private final FileChannel channel;
  private final long dataStart;
  private final Map<String, TensorInfo> tensors;
  private final Map<String, String> metadata;

  private SafetensorsFile(
      Path path,
      FileChannel channel,
      long dataStart,
      Map<String, TensorInfo> tensors,
      Map<String, String> metadata) {
    this.path = path;
    this.channel = channel;
    this.dataStart = dataStart;
    this.tensors = Collections.unmodifiableMap(tensors);
    this.metadata = Collections.unmodifiableMap(metadata);
  }

  /**
   * Opens {@code file} and validates its header.
   *
   * @throws CheckpointException if the file cannot be read or its header is malformed, names an
   *     unknown dtype, or points outside the file
   */
  public static SafetensorsFile open(Path file) {
    FileChannel channel;
    try {
      channel = FileChannel.open(file, StandardOpenOption.READ);
    } catch (NoSuchFileException e) {
      throw new CheckpointException(file, "file does not exist");
    } catch (IOException e) {
      throw new CheckpointException(file, "cannot open file: " + e, e);
    }
    try {
      return readHeader(file, channel);
    } catch (RuntimeException e) {
      closeQuietly(channel, e);
      throw e;
    } catch (IOException e) {
      closeQuietly(channel, e);
      throw new CheckpointException(file, "cannot read file: " + e, e);
    }
  }

  private static SafetensorsFile readHeader(Path file, FileChannel channel) throws IOException {
    long fileSize = channel.size();
    if (fileSize < 8) {
      throw new CheckpointException(
          file,
          "not a safetensors file: it has "
              + fileSize
              + " bytes, expected at least 8 (the header length)");
    }
    ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
    Tensors.readFully(channel, lengthBytes, 0);
    long headerLength = lengthBytes.getLong(0);
    // A u64 with the top bit set reads as negative here; either way it is absurd.
    if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
      throw new CheckpointException(
          file,
          "header length "
              + Long.toUnsignedString(headerLength)
              + " is absurd (the limit is "
              + MAX_HEADER_BYTES
              + " bytes): not a safetensors file or corrupt");
    }
    if (headerLength > fileSize - 8) {
      throw new CheckpointException(
          file,
          "header length "
              + headerLength
              + " is larger than the rest of the file ("
              + (fileSize - 8)
              + " bytes): the file is truncated or not a safetensors file");
    }
    ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLength);
    Tensors.readFully(channel, headerBytes, 8);
    headerBytes.flip();
    JsonObject header = parseHeader(file, headerBytes);

    long dataStart = 8 + headerLength;
    long dataLength = fileSize - dataStart;
    Map<String, TensorInfo> tensors = new LinkedHashMap<>();
    Map<String, String> metadata = new LinkedHashMap<>();
    for (Map.Entry<String, JsonElement> entry : header.entrySet()) {
      String name = entry.getKey();
      if (name.equals(METADATA_KEY)) {
        readMetadata(file, entry.getValue(), metadata);
      } else {
        tensors.put(name, readEntry(file, name, entry.getValue(), dataLength));
      }
    }
    checkLayout(file, tensors.values(), dataLength);
    return new SafetensorsFile(file, channel, dataStart, tensors, metadata);
  }

  /**
   * As the reference implementation ({@code safetensors/src/tensor.rs}, {@code Metadata::validate})
   * requires: the byte ranges, ordered by their begin, start at 0 and each begins where the
   * previous one ends (no overlap, no gap), and the last ends at the end of the file. Two tensors
   * sharing bytes would load silently wrong.
   */
  private static void checkLayout(Path file, Collection<TensorInfo> tensors, long dataLength) {
    List<TensorInfo> byOffset = new ArrayList<>(tensors);
    byOffset.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
    long start = 0;
    TensorInfo previous = null;
    for (TensorInfo info : byOffset) {
      String after =
          previous == null
              ? "the start of the data section"
              : "tensor '" + previous.name() + "', which ends at " + start;
      if (info.begin() < start) {
        throw new CheckpointException(
            file,
            info.name(),
            "data_offsets ["
                + info.begin()
                + ", "
                + info.end()
                + "] overlaps "
                + after
                + " (tensors must not share bytes)");
      }
      if (info.begin() > start) {
        throw new CheckpointException(
            file,
            info.name(),
            "data_offsets ["
                + info.begin()
                + ", "
                + info.end()
                + "] leave a gap of "
                + (info.begin() - start)
                + " bytes after "
                + after
                + " (tensors must be contiguous)");
      }
      start = info.end();
      previous = info;
    }
    if (start != dataLength) {
      throw new CheckpointException(
          file,
          (dataLength - start)
              + " bytes after the last tensor's data (which ends at offset "
              + start
              + "): no tensor describes them, the file is corrupt or not safetensors");
    }
  }

  /** Refuses a name given twice in the header: a JSON object keeps only one of them. */
  private static void refuseDuplicateNames(Path file, String header) throws IOException {
    try (JsonReader reader = new JsonReader(new StringReader(header))) {
      reader.beginObject();
      Set<String> seen = new HashSet<>();
      while (reader.hasNext()) {
        String name = reader.nextName();
        if (!seen.add(name)) {
          throw new CheckpointException(
              file, name, "appears more than once in the header (names must be unique)");
        }
        reader.skipValue();
      }
    }
  }

  private static JsonObject parseHeader(Path file, ByteBuffer bytes) {
    String text;
    try {
      text =
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .decode(bytes)
              .toString();
    } catch (CharacterCodingException e) {
      throw new CheckpointException(file, "header is not valid UTF-8: not a safetensors file");
    }
    JsonElement root;
    try (JsonReader reader = new JsonReader(new StringReader(text))) {
      reader.setStrictness(Strictness.STRICT);
      root = JsonParser.parseReader(reader);
      if (reader.peek() != JsonToken.END_DOCUMENT) {
        throw new JsonParseException("unexpected content after the JSON object");
      }
    } catch (JsonParseException | IOException e) {
      throw new CheckpointException(
          file, "header is not valid JSON (" + jsonProblem(e) + "): not safetensors or corrupt");
    }
    if (root.isJsonNull()) {
      throw new CheckpointException(file, "header is empty, expected a JSON object");
    }
    if (!root.isJsonObject()) {
      throw new CheckpointException(
          file, "header is JSON but not an object (found " + kind(root) + "): not safetensors");
    }
    try {
      refuseDuplicateNames(file, text);
    } catch (IOException e) {
      throw new CheckpointException(file, "header cannot be read again: " + e, e);
    }
    return root.getAsJsonObject();
  }

  private static void readMetadata(Path file, JsonElement value, Map<String, String> out) {
    if (!value.isJsonObject()) {
      throw new CheckpointException(
          file, "\"__metadata__\" must be an object of strings, found " + kind(value));
    }
    for (Map.Entry<String, JsonElement> e : value.getAsJsonObject().entrySet()) {
      JsonElement v = e.getValue();
      if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString()) {
        throw new CheckpointException(
            file, "\"__metadata__\" entry '" + e.getKey() + "' must be a string, found " + kind(v));
      }
      out.put(e.getKey(), v.getAsString());
    }
  }

  private static TensorInfo readEntry(Path file, String name, JsonElement value, long dataLength) {
    if (!value.isJsonObject()) {
      throw new CheckpointException(
          file, name, "header entry must be an object, found " + kind(value));
    }
    JsonObject o = value.getAsJsonObject();
    JsonElement dtypeJson = require(file, name, o, "dtype");
    if (!dtypeJson.isJsonPrimitive() || !dtypeJson.getAsJsonPrimitive().isString()) {
      throw new CheckpointException(
          file, name, "\"dtype\" must be a string, found " + kind(dtypeJson));
    }
    String dtype = dtypeJson.getAsString();
    int bits = bitsOf(dtype);
    if (bits == 0) {
      throw new CheckpointException(
          file, name, "unknown dtype " + dtype + " (expected one of " + LOADABLE + ")");
    }
    long[] shape = readLongs(file, name, require(file, name, o, "shape"), "shape", -1);
    long[] offsets =
        readLongs(file, name, require(file, name, o, "data_offsets"), "data_offsets", 2);
    for (long dim : shape) {
      if (dim < 0) {
        throw new CheckpointException(
            file, name, "shape " + Arrays.toString(shape) + " has a negative dimension");
      }
    }
    long begin = offsets[0];
    long end = offsets[1];
    if (begin < 0 || begin > end) {
      throw new CheckpointException(
          file,
          name,
          "data_offsets " + Arrays.toString(offsets) + " are invalid, expected 0 <= begin <= end");
    }
    long expectedBytes;
    try {
      long elements = 1;
      for (long dim : shape) {
        elements = Math.multiplyExact(elements, dim);
      }
      long totalBits = Math.multiplyExact(elements, (long) bits);
      expectedBytes = totalBits % 8 == 0 ? totalBits / 8 : -1;
    } catch (ArithmeticException e) {
      expectedBytes = -1;
    }
    if (expectedBytes != end - begin) {
      throw new CheckpointException(
          file,
          name,
          "data_offsets "
              + Arrays.toString(offsets)
              + " span "
              + (end - begin)
              + " bytes, but "
              + dtype
              + " "
              + Arrays.toString(shape)
              + " needs "
              + (expectedBytes < 0 ? "an impossible number of" : String.valueOf(expectedBytes))
              + " bytes");
    }
    if (end > dataLength) {
      throw new CheckpointException(
          file,
          name,
          "data ends at offset "
              + end
              + " past the end of the data section, which has only "
              + dataLength
              + " bytes: the file is truncated");
    }
    return new TensorInfo(name, dtype, shape, begin, end);
  }

  private static JsonElement require(Path file, String name, JsonObject o, String key) {
    JsonElement e = o.get(key);
    if (e == null || e.isJsonNull()) {
      throw new CheckpointException(
          file, name, "header entry has no \"" + key + "\" (expected dtype, shape, data_offsets)");
    }
    return e;
  }

  /** Reads a JSON array of non-fractional numbers; {@code length < 0} means any length. */
  private static long[] readLongs(Path file, String name, JsonElement e, String key, int length) {
    String expected =
        "\"" + key + "\" must be an array of " + (length < 0 ? "" : length + " ") + "integers";
    if (!e.isJsonArray() || (length >= 0 && e.getAsJsonArray().size() != length)) {
      throw new CheckpointException(file, name, expected + ", found " + e);
    }
    long[] out = new long[e.getAsJsonArray().size()];
    int i = 0;
    for (JsonElement item : e.getAsJsonArray()) {
      if (!item.isJsonPrimitive() || !item.getAsJsonPrimitive().isNumber()) {
        throw new CheckpointException(file, name, expected + ", found " + e);
      }
      try {
        out[i++] = new BigDecimal(item.getAsString()).longValueExact();
      } catch (ArithmeticException | NumberFormatException ex) {
        throw new CheckpointException(file, name, expected + ", found " + e);
      }
    }
    return out;
  }

  /** Bits per element of a safetensors dtype, or 0 if the dtype is unknown. */
  static int bitsOf(String dtype) {
    return switch (dtype) {
      case "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0" -> 8;
      case "I16", "U16", "F16", "BF16" -> 16;
      case "I32", "U32", "F32" -> 32;
      case "I64", "U64", "F64", "C64" -> 64;
      case "F6_E2M3", "F6_E3M2" -> 6;
      case "F4" -> 4;
      default -> 0;
    };
  }

  /** The DJL type for a loadable safetensors dtype, or null if loading it is not supported. */
  static DataType djlType(String dtype) {
    return switch (dtype) {
      case "F32" -> DataType.FLOAT32;
      case "F16" -> DataType.FLOAT16;
      case "BF16" -> DataType.BFLOAT16;
      case "F64" -> DataType.FLOAT64;
      default -> null;
    };
  }

  public Path path() {
    return path;
  }

  /** Header entries in file order, without {@code __metadata__}. */
  public Map<String, TensorInfo> tensors() {
    return tensors;
  }

  /** The {@code __metadata__} strings; empty if the file has none. */
  public Map<String, String> metadata() {
    return metadata;
  }

  /**
   * Reads tensor {@code name} into a new array of {@code manager} converted to {@code computeType}.
   * The array owns its memory: it does not alias the file and outlives this object.
   *
   * <p>BF16 tensors are widened to float32 in Java, then cast natively: DJL's PyTorch engine has no
   * bfloat16 type (any bfloat16 array aborts the JVM), so {@code computeType} cannot be BFLOAT16
   * either.
   *
   * @param computeType FLOAT32, FLOAT16 or FLOAT64
   * @throws IllegalArgumentException if {@code computeType} is not one of those
   * @throws CheckpointException if there is no such tensor, its dtype cannot be loaded, or the read
   *     fails
   */
  public NDArray load(String name, NDManager manager, DataType computeType) {
    try (ReadBuffers buffers = new ReadBuffers()) {
      return load(name, manager, computeType, buffers);
    }
  }

  /**
   * As {@link #load(String, NDManager, DataType)}, reading through {@code buffers}: host memory
   * beyond the result is then at most the largest tensor read, three times over for BF16 (its bytes
   * and their float32 widening), however many tensors are loaded.
   */
  public NDArray load(String name, NDManager manager, DataType computeType, ReadBuffers buffers) {
    if (computeType != DataType.FLOAT32
        && computeType != DataType.FLOAT16
        && computeType != DataType.FLOAT64) {
      throw new IllegalArgumentException(
          "computeType must be FLOAT32, FLOAT16 or FLOAT64 (DJL's PyTorch engine cannot hold "
              + "BFLOAT16), got "
              + computeType);
    }
    TensorInfo info = tensors.get(name);
    if (info == null) {
      throw new CheckpointException(
          path, name, "not found (the file has " + tensors.size() + " tensors)");
    }
    DataType stored = djlType(info.dtype());
    if (stored == null) {
      throw new CheckpointException(
          path, name, "unsupported dtype " + info.dtype() + " (expected one of " + LOADABLE + ")");
    }
    boolean widen = stored == DataType.BFLOAT16;
    long arrayBytes = widen ? info.byteLength() * 2 : info.byteLength();
    if (arrayBytes > Integer.MAX_VALUE) {
      throw new CheckpointException(
          path, name, arrayBytes + " bytes is too large to load as one array (the limit is 2 GiB)");
    }
    if (!channel.isOpen()) {
      throw new IllegalStateException(path + " is closed");
    }
    // A positional read, not a mapping: mapped pages count as the process's memory until the
    // garbage collector unmaps them, which over a sharded checkpoint can be all of it.
    ByteBuffer bytes = buffers.raw((int) info.byteLength());
    try {
      Tensors.readFully(channel, bytes, dataStart + info.begin());
    } catch (IOException e) {
      throw new CheckpointException(path, name, "cannot read data: " + e, e);
    }
    bytes.flip();
    DataType arrayType = stored;
    if (widen) {
      bytes = bf16ToF32(bytes, buffers.wide((int) arrayBytes));
      arrayType = DataType.FLOAT32;
    } else if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
      bytes = swapBytes(bytes, stored.getNumOfBytes());
    }
    // The array over `bytes` is a zero-copy view of a reused buffer: copy it into memory the
    // engine owns, so that closing the manager frees it.
    NDArray result =
        Tensors.ownedCopy(manager.create(bytes, info.djlShape(), arrayType), computeType);
    result.setName(name);
    return result;
  }

  /**
   * Two off-heap buffers reused from one tensor read to the next (the file bytes, and BF16's
   * float32 widening), grown to the largest tensor read, and freed when closed rather than when a
   * garbage collection finds them (a direct ByteBuffer of the largest tensor, the embeddings'
   * hundreds of MiB at 7B width, would stay resident for the rest of a run). Not thread-safe: one
   * per loading thread.
   */
  public static final class ReadBuffers implements AutoCloseable {
    private final BufferAllocator allocator = new RootAllocator();
    private ArrowBuf raw;
    private ArrowBuf wide;

    /** A little-endian buffer of exactly {@code bytes} bytes, valid until the next call. */
    public ByteBuffer raw(int bytes) {
      raw = grow(raw, bytes);
      return raw.nioBuffer(0, bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** A native-order buffer of exactly {@code bytes} bytes, valid until the next call. */
    ByteBuffer wide(int bytes) {
      wide = grow(wide, bytes);
      return wide.nioBuffer(0, bytes).order(ByteOrder.nativeOrder());
    }

    private ArrowBuf grow(ArrowBuf buffer, int bytes) {
      if (buffer != null && buffer.capacity() >= bytes) {
        return buffer;
      }
      if (buffer != null) {
        buffer.close();
      }
      return allocator.buffer(bytes);
    }

    @Override
    public void close() {
      if (raw != null) {
        raw.close();
      }
      if (wide != null) {
        wide.close();
      }
      allocator.close();
    }
  }

  /** Widens little-endian bfloat16 values into a new native-order direct buffer of float32. */
  static ByteBuffer bf16ToF32(ByteBuffer bf16) {
    return bf16ToF32(bf16, ByteBuffer.allocateDirect(bf16.remaining() * 2));
  }

  /** As {@link #bf16ToF32(ByteBuffer)}, into {@code out} (twice bf16's remaining bytes). */
  static ByteBuffer bf16ToF32(ByteBuffer bf16, ByteBuffer out) {
    ShortBuffer in = bf16.duplicate().order(ByteOrder.LITTLE_ENDIAN).asShortBuffer();
    int n = in.remaining();
    out.order(ByteOrder.nativeOrder());
    IntBuffer bits = out.asIntBuffer();
    // No bulk buffer op widens; a bfloat16 is the upper half of the float32 with the same value.
    for (int i = 0; i < n; i++) {
      bits.put(i, in.get(i) << 16);
    }
    return out;
  }

  /**
   * Narrows float32 values (in {@code f32}'s byte order) to a new little-endian direct buffer of
   * bfloat16, rounding to nearest even as PyTorch does.
   */
  static ByteBuffer f32ToBf16(ByteBuffer f32) {
    IntBuffer in = f32.duplicate().order(f32.order()).asIntBuffer();
    int n = in.remaining();
    ByteBuffer out = ByteBuffer.allocateDirect(n * 2).order(ByteOrder.LITTLE_ENDIAN);
    ShortBuffer halves = out.asShortBuffer();
    for (int i = 0; i < n; i++) {
      int bits = in.get(i);
      if ((bits & 0x7FFFFFFF) > 0x7F800000) {
        halves.put(i, (short) ((bits >>> 16) | 0x0040)); // NaN stays a (quiet) NaN
      } else {
        halves.put(i, (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16));
      }
    }
    return out;
  }

  /**
   * Returns a new direct buffer holding {@code src}'s elements of {@code elementSize} bytes with
   * their byte order reversed (its {@link ByteBuffer#order} set to match). Only big-endian hosts
   * need this, since safetensors data and the native tensor memory must agree.
   */
  static ByteBuffer swapBytes(ByteBuffer src, int elementSize) {
    ByteBuffer in = src.duplicate().order(src.order());
    ByteOrder swapped =
        in.order() == ByteOrder.LITTLE_ENDIAN ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN;
    ByteBuffer out = ByteBuffer.allocateDirect(in.remaining()).order(swapped);
    // Typed views read with one order and write with the other; their positions are independent
    // of out's, so out stays positioned at 0.
    switch (elementSize) {
      case 2 -> out.asShortBuffer().put(in.asShortBuffer());
      case 4 -> out.asIntBuffer().put(in.asIntBuffer());
      case 8 -> out.asLongBuffer().put(in.asLongBuffer());
      default -> throw new IllegalArgumentException("cannot swap elements of " + elementSize);
    }
    return out;
  }

  @Override
  public void close() {
    try {
      channel.close();
    } catch (IOException e) {
      throw new CheckpointException(path, "cannot close file: " + e, e);
    }
  }

  /** Gson's parse error without its advice to switch to lenient parsing. */
  static String jsonProblem(Exception e) {
    Throwable t = e.getCause() != null ? e.getCause() : e;
    String message = String.valueOf(t.getMessage());
    int seeAlso = message.indexOf("\nSee ");
    if (seeAlso >= 0) {
      message = message.substring(0, seeAlso);
    }
    return message.replace(
        "Use JsonReader.setStrictness(Strictness.LENIENT) to accept malformed JSON", "malformed");
  }

  private static String kind(JsonElement e) {
    if (e.isJsonObject()) {
      return "an object";
    } else if (e.isJsonArray()) {
      return "an array";
    } else if (e.isJsonNull()) {
      return "null";
    }
    return e.getAsJsonPrimitive().isString() ? "a string" : e.toString();
  }

  private static void closeQuietly(FileChannel channel, Exception primary) {
    try {
      channel.close();
    } catch (IOException e) {
      primary.addSuppressed(e);
    }
  }
}
