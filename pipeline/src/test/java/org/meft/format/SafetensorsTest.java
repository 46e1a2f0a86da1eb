package org.meft.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.meft.format.SafetensorsFile.TensorInfo;

class SafetensorsTest {

  @TempDir Path dir;

  @Test
  void float32RoundTripIsExact() {
    Path file = dir.resolve("w.safetensors");
    try (NDManager m = NDManager.newBaseManager()) {
      Map<String, NDArray> tensors = new LinkedHashMap<>();
      tensors.put("z.last", m.randomNormal(new Shape(3, 5)));
      tensors.put("a.first", m.create(new float[] {1f, -2.5f, 0.1f, Float.MIN_VALUE}));
      tensors.put("scalar", m.create(42.5f));
      tensors.put("empty", m.zeros(new Shape(0, 4)));
      SafetensorsWriter.write(file, tensors, DataType.FLOAT32, Map.of("format", "pt"));

      try (SafetensorsFile st = SafetensorsFile.open(file)) {
        assertEquals(List.copyOf(tensors.keySet()), List.copyOf(st.tensors().keySet()));
        assertEquals(Map.of("format", "pt"), st.metadata());
        assertEquals(file, st.path());
        for (Map.Entry<String, NDArray> e : tensors.entrySet()) {
          TensorInfo info = st.tensors().get(e.getKey());
          assertEquals("F32", info.dtype());
          assertEquals(e.getValue().getShape(), info.djlShape());
          NDArray loaded = st.load(e.getKey(), m, DataType.FLOAT32);
          assertEquals(DataType.FLOAT32, loaded.getDataType());
          assertEquals(e.getValue().getShape(), loaded.getShape());
          assertArrayEquals(e.getValue().toFloatArray(), loaded.toFloatArray());
        }
      }
    }
  }

  @Test
  void headerIsPaddedToEightBytesAndDataFollows() throws IOException {
    Path file = dir.resolve("w.safetensors");
    try (NDManager m = NDManager.newBaseManager()) {
      SafetensorsWriter.write(
          file, Map.of("x", m.create(new float[] {3f})), DataType.FLOAT32, null);
    }
    ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
    long headerLength = bytes.getLong(0);
    assertEquals(0, headerLength % 8);
    assertEquals(8 + headerLength + 4, bytes.capacity());
    assertEquals(3f, bytes.getFloat((int) (8 + headerLength)));
    try (Stream<Path> files = Files.list(dir)) {
      assertEquals(List.of(file), files.toList(), "no temporary file is left behind");
    }
  }

  @Test
  void bfloat16AndFloat16ConvertKnownValues() throws IOException {
    float tieDown = Float.intBitsToFloat(0x3F808000); // halfway between two bf16: round to even
    float tieUp = Float.intBitsToFloat(0x3F818000);
    float inf = Float.POSITIVE_INFINITY;
    checkStoredBits(
        DataType.BFLOAT16,
        new float[] {1f, -2.5f, 0.1f, tieDown, tieUp, inf, Float.NaN},
        new short[] {0x3F80, (short) 0xC020, 0x3DCD, 0x3F80, 0x3F82, 0x7F80, 0x7FC0});
    checkStoredBits(
        DataType.FLOAT16,
        new float[] {1f, -2.5f, 0.1f, tieDown, inf},
        new short[] {0x3C00, (short) 0xC100, 0x2E66, 0x3C04, 0x7C00});
  }

  private void checkStoredBits(DataType type, float[] values, short[] expectedBits)
      throws IOException {
    Path file = dir.resolve(type + ".safetensors");
    try (NDManager m = NDManager.newBaseManager()) {
      SafetensorsWriter.write(file, Map.of("v", m.create(values)), type, Map.of());
    }
    ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
    int data = (int) (8 + bytes.getLong(0));
    short[] stored = new short[values.length];
    bytes.position(data).slice().order(ByteOrder.LITTLE_ENDIAN).asShortBuffer().get(stored);
    assertArrayEquals(expectedBits, stored, type.toString());
  }

  @Test
  void bfloat16AndFloat16RoundTripWithinTolerance() {
    roundTrip(DataType.BFLOAT16, "BF16", 1e-2);
    roundTrip(DataType.FLOAT16, "F16", 1e-3);
  }

  private void roundTrip(DataType type, String dtype, double relTolerance) {
    Path file = dir.resolve(dtype + ".safetensors");
    try (NDManager m = NDManager.newBaseManager()) {
      NDArray original = m.randomUniform(-4f, 4f, new Shape(16, 8));
      SafetensorsWriter.write(file, Map.of("w", original), type, null);
      try (SafetensorsFile st = SafetensorsFile.open(file)) {
        assertEquals(dtype, st.tensors().get("w").dtype());
        NDArray loaded = st.load("w", m, DataType.FLOAT32);
        assertEquals(DataType.FLOAT32, loaded.getDataType());
        float[] expected = original.toFloatArray();
        float[] actual = loaded.toFloatArray();
        for (int i = 0; i < expected.length; i++) {
          assertEquals(expected[i], actual[i], Math.abs(expected[i]) * relTolerance, dtype);
        }
        NDArray half = st.load("w", m, DataType.FLOAT16);
        assertEquals(DataType.FLOAT16, half.getDataType());
        assertEquals(new Shape(16, 8), half.getShape());
      }
    }
  }

  @Test
  void bfloat16ComputeTypeIsRefusedNotFatal() {
    Path file = dir.resolve("w.safetensors");
    try (NDManager m = NDManager.newBaseManager()) {
      SafetensorsWriter.write(file, Map.of("w", m.ones(new Shape(2))), DataType.BFLOAT16, null);
      try (SafetensorsFile st = SafetensorsFile.open(file)) {
        assertThrows(IllegalArgumentException.class, () -> st.load("w", m, DataType.BFLOAT16));
      }
    }
  }

  @Test
  void readsAFileBuiltByHand() throws IOException {
    // Unpadded header, so the F32 data is not 4-byte aligned in the file.
    String header =
        "{\"__metadata__\":{\"k\":\"v\"},"
            + "\"f\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
            + "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[16,20]},"
            + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[20,24]},"
            + "\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[24,26]},"
            + "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[26,34]}}";
    ByteBuffer data = ByteBuffer.allocate(34).order(ByteOrder.LITTLE_ENDIAN);
    data.putFloat(1f).putFloat(2f).putFloat(-3f).putFloat(0.5f).putFloat(7f);
    data.putShort((short) 0x3F80).putShort((short) 0xC020);
    data.putShort((short) 0x3C00);
    data.putDouble(-0.125);
    Path file = writeRaw("hand.safetensors", header, data.array());

    try (NDManager m = NDManager.newBaseManager();
        SafetensorsFile st = SafetensorsFile.open(file)) {
      assertEquals(List.of("f", "s", "b", "h", "d"), List.copyOf(st.tensors().keySet()));
      assertEquals(Map.of("k", "v"), st.metadata());
      assertEquals(new TensorInfo("f", "F32", new long[] {2, 2}, 0, 16), st.tensors().get("f"));
      NDArray f = st.load("f", m, DataType.FLOAT32);
      assertEquals(new Shape(2, 2), f.getShape());
      assertArrayEquals(new float[] {1f, 2f, -3f, 0.5f}, f.toFloatArray());
      NDArray s = st.load("s", m, DataType.FLOAT32);
      assertEquals(new Shape(), s.getShape());
      assertEquals(7f, s.getFloat());
      assertArrayEquals(new float[] {1f, -2.5f}, st.load("b", m, DataType.FLOAT32).toFloatArray());
      assertArrayEquals(new float[] {1f}, st.load("h", m, DataType.FLOAT32).toFloatArray());
      assertArrayEquals(new float[] {-0.125f}, st.load("d", m, DataType.FLOAT32).toFloatArray());
      assertEquals(DataType.FLOAT64, st.load("d", m, DataType.FLOAT64).getDataType());
    }
  }

  @Test
  void loadedArrayOwnsItsMemory() throws IOException {
    Path file = dir.resolve("w.safetensors");
    float[] values = {1f, 2f, 3f, 4f};
    try (NDManager m = NDManager.newBaseManager()) {
      SafetensorsWriter.write(file, Map.of("w", m.create(values)), DataType.FLOAT32, null);
      NDArray same;
      NDArray converted;
      try (SafetensorsFile st = SafetensorsFile.open(file)) {
        same = st.load("w", m, DataType.FLOAT32);
        converted = st.load("w", m, DataType.FLOAT16);
      }
      // Overwrite the data in place: an array still backed by the shared mapping would change.
      long dataStart = Files.size(file) - 16;
      try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
        ch.write(ByteBuffer.wrap(new byte[16]), dataStart);
      }
      System.gc();
      assertArrayEquals(values, same.toFloatArray());
      assertArrayEquals(values, converted.toType(DataType.FLOAT32, false).toFloatArray());
    }
  }

  @Test
  void shardedWriteIsReadBackByFolder() throws IOException {
    try (NDManager m = NDManager.newBaseManager()) {
      Map<String, NDArray> tensors = new LinkedHashMap<>();
      tensors.put("embed", m.randomNormal(new Shape(4, 4))); // 64 bytes
      tensors.put("big", m.randomNormal(new Shape(40))); // 160 bytes, over the limit
      tensors.put("a", m.randomNormal(new Shape(8))); // 32 bytes
      tensors.put("b", m.randomNormal(new Shape(8))); // 32 bytes
      tensors.put("c", m.randomNormal(new Shape(10))); // 40 bytes, does not fit with a, b
      SafetensorsWriter.writeSharded(dir, tensors, DataType.FLOAT32, 100);

      String s1 = "model-00001-of-00004.safetensors";
      String s2 = "model-00002-of-00004.safetensors";
      String s3 = "model-00003-of-00004.safetensors";
      String s4 = "model-00004-of-00004.safetensors";
      for (String shard : List.of(s1, s2, s3, s4)) {
        assertTrue(Files.isRegularFile(dir.resolve(shard)), shard);
      }
      JsonObject index =
          JsonParser.parseString(Files.readString(dir.resolve("model.safetensors.index.json")))
              .getAsJsonObject();
      assertEquals(328, index.getAsJsonObject("metadata").get("total_size").getAsLong());
      JsonObject weightMap = index.getAsJsonObject("weight_map");
      assertEquals(5, weightMap.size());
      assertEquals(s1, weightMap.get("embed").getAsString());
      assertEquals(s2, weightMap.get("big").getAsString());
      assertEquals(s3, weightMap.get("a").getAsString());
      assertEquals(s3, weightMap.get("b").getAsString());
      assertEquals(s4, weightMap.get("c").getAsString());

      try (SafetensorsFolder folder = SafetensorsFolder.open(dir)) {
        assertEquals(List.copyOf(tensors.keySet()), List.copyOf(folder.names()));
        assertEquals(new Shape(40), folder.info("big").djlShape());
        for (Map.Entry<String, NDArray> e : tensors.entrySet()) {
          NDArray loaded = folder.load(e.getKey(), e.getValue().getShape(), m, DataType.FLOAT32);
          assertArrayEquals(e.getValue().toFloatArray(), loaded.toFloatArray(), e.getKey());
        }
      }
    }
  }

  @Test
  void folderReadsSingleFile() {
    try (NDManager m = NDManager.newBaseManager()) {
      SafetensorsWriter.write(
          dir.resolve("model.safetensors"),
          Map.of("w", m.create(new float[] {1f, 2f})),
          DataType.BFLOAT16,
          null);
      try (SafetensorsFolder folder = SafetensorsFolder.open(dir)) {
        assertEquals(List.of("w"), List.copyOf(folder.names()));
        NDArray w = folder.load("w", new Shape(2), m, DataType.FLOAT32);
        assertArrayEquals(new float[] {1f, 2f}, w.toFloatArray());
      }
    }
  }

  @Test
  void fileShorterThanEightBytes() throws IOException {
    Path file = dir.resolve("tiny.safetensors");
    Files.write(file, new byte[] {1, 2, 3});
    assertOpenFails(file, "tiny.safetensors", "at least 8");
  }

  @Test
  void headerLengthLargerThanFile() throws IOException {
    Path file = writeRaw("long.safetensors", "{}", new byte[0]);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1000), 0);
    }
    assertOpenFails(file, "long.safetensors", "1000");
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, -1), 0);
    }
    assertOpenFails(file, "long.safetensors", "absurd");
  }

  @Test
  void truncatedFile() throws IOException {
    Path file = dir.resolve("cut.safetensors");
    try (NDManager m = NDManager.newBaseManager()) {
      SafetensorsWriter.write(file, Map.of("w", m.zeros(new Shape(10))), DataType.FLOAT32, null);
    }
    byte[] whole = Files.readAllBytes(file);
    Files.write(file, Arrays.copyOf(whole, whole.length - 6));
    CheckpointException e = assertOpenFails(file, "cut.safetensors", "truncated");
    assertTrue(e.getMessage().contains("'w'"), e.getMessage());
    assertTrue(e.getMessage().contains("40") && e.getMessage().contains("34"), e.getMessage());
  }

  @Test
  void headerPointingPastTheEnd() throws IOException {
    Path file =
        writeRaw(
            "past.safetensors",
            "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
            new byte[16]);
    CheckpointException e = assertOpenFails(file, "past.safetensors", "'w'");
    assertTrue(e.getMessage().contains("24") && e.getMessage().contains("16"), e.getMessage());
  }

  @Test
  void unknownAndUnsupportedDtypes() throws IOException {
    Path unknown = writeRaw("i9.safetensors", entry("w", "I9", "[2]", "[0,2]"), new byte[2]);
    assertOpenFails(unknown, "i9.safetensors", "unknown dtype I9");

    Path i64 = writeRaw("i64.safetensors", entry("ids", "I64", "[2]", "[0,16]"), new byte[16]);
    try (NDManager m = NDManager.newBaseManager();
        SafetensorsFile st = SafetensorsFile.open(i64)) {
      assertEquals("I64", st.tensors().get("ids").dtype());
      CheckpointException e =
          assertFails(() -> st.load("ids", m, DataType.FLOAT32), "i64.safetensors", "'ids'");
      assertTrue(
          e.getMessage().contains("unsupported dtype I64 (expected one of F32, F16, BF16, F64)"),
          e.getMessage());
    }
  }

  @Test
  void garbageJson() throws IOException {
    assertOpenFails(writeRaw("g1.safetensors", "{\"w\": [", new byte[0]), "g1", "not valid JSON");
    assertOpenFails(writeRaw("g2.safetensors", "[1, 2]", new byte[0]), "g2", "not an object");
    assertOpenFails(writeRaw("g3.safetensors", "{'w': 1}", new byte[0]), "g3", "not valid JSON");
    Path badUtf8 = dir.resolve("g4.safetensors");
    Files.write(badUtf8, rawFile(new byte[] {'{', (byte) 0xFF, '}'}, new byte[0]));
    assertOpenFails(badUtf8, "g4", "UTF-8");
    assertOpenFails(
        writeRaw("g5.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", new byte[4]),
        "g5",
        "data_offsets");
    assertOpenFails(
        writeRaw("g6.safetensors", entry("w", "F32", "[\"1\"]", "[0,4]"), new byte[4]),
        "g6",
        "shape");
    assertOpenFails(
        writeRaw("g7.safetensors", entry("w", "F32", "[-1]", "[0,0]"), new byte[0]),
        "g7",
        "negative");
    assertOpenFails(
        writeRaw("g8.safetensors", entry("w", "F32", "[1]", "[4,0]"), new byte[4]),
        "g8",
        "begin <= end");
  }

  @Test
  void shapeAndSizeMismatch() throws IOException {
    Path file = writeRaw("size.safetensors", entry("w", "F32", "[3]", "[0,8]"), new byte[8]);
    CheckpointException e = assertOpenFails(file, "size.safetensors", "'w'");
    assertTrue(e.getMessage().contains("12") && e.getMessage().contains("8"), e.getMessage());
  }

  @Test
  void expectedShapeMismatch() {
    try (NDManager m = NDManager.newBaseManager()) {
      SafetensorsWriter.write(
          dir.resolve("model.safetensors"),
          Map.of("q_proj", m.zeros(new Shape(2, 3))),
          DataType.FLOAT32,
          null);
      try (SafetensorsFolder folder = SafetensorsFolder.open(dir)) {
        CheckpointException e =
            assertFails(
                () -> folder.load("q_proj", new Shape(3, 2), m, DataType.FLOAT32),
                "model.safetensors",
                "'q_proj'");
        assertTrue(
            e.getMessage().contains("shape [2, 3] does not match config.json, expected [3, 2]"),
            e.getMessage());
      }
    }
  }

  @Test
  void missingTensor() {
    try (NDManager m = NDManager.newBaseManager()) {
      Path file = dir.resolve("model.safetensors");
      SafetensorsWriter.write(file, Map.of("w", m.zeros(new Shape(2))), DataType.FLOAT32, null);
      try (SafetensorsFile st = SafetensorsFile.open(file)) {
        assertFails(() -> st.load("nope", m, DataType.FLOAT32), "model.safetensors", "'nope'");
      }
      try (SafetensorsFolder folder = SafetensorsFolder.open(dir)) {
        CheckpointException e =
            assertFails(() -> folder.info("nope"), "model.safetensors", "'nope'");
        assertTrue(e.getMessage().contains("not found"), e.getMessage());
        assertFails(
            () -> folder.load("nope", new Shape(2), m, DataType.FLOAT32), "model.safetensors", "");
      }
    }
  }

  @Test
  void missingShardListedInIndex() throws IOException {
    try (NDManager m = NDManager.newBaseManager()) {
      Map<String, NDArray> tensors = new LinkedHashMap<>();
      tensors.put("a", m.zeros(new Shape(4)));
      tensors.put("b", m.zeros(new Shape(4)));
      SafetensorsWriter.writeSharded(dir, tensors, DataType.FLOAT32, 16);
    }
    Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
    CheckpointException e =
        assertFails(() -> SafetensorsFolder.open(dir), "model.safetensors.index.json", "'b'");
    assertTrue(e.getMessage().contains("model-00002-of-00002.safetensors"), e.getMessage());
    assertTrue(e.getMessage().contains("does not exist"), e.getMessage());

    Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"metadata\": {}}");
    assertFails(() -> SafetensorsFolder.open(dir), "model.safetensors.index.json", "weight_map");
    Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"weight_map\": ");
    assertFails(() -> SafetensorsFolder.open(dir), "model.safetensors.index.json", "JSON");
  }

  @Test
  void pickledCheckpointIsRefused() throws IOException {
    Files.write(dir.resolve("pytorch_model.bin"), new byte[] {(byte) 0x80, 2});
    CheckpointException e =
        assertFails(() -> SafetensorsFolder.open(dir), dir.toString(), "pytorch_model.bin");
    assertTrue(e.getMessage().contains("arbitrary code"), e.getMessage());
    assertTrue(e.getMessage().contains("convert them to safetensors"), e.getMessage());

    Files.delete(dir.resolve("pytorch_model.bin"));
    assertFails(() -> SafetensorsFolder.open(dir), dir.toString(), "no model.safetensors");
  }

  @Test
  void swapBytesReversesEachElement() {
    ByteBuffer le = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(1.5f);
    le.putFloat(-2f).flip();
    ByteBuffer be = SafetensorsFile.swapBytes(le, 4);
    assertEquals(ByteOrder.BIG_ENDIAN, be.order());
    assertEquals(1.5f, be.getFloat(0));
    assertEquals(-2f, be.getFloat(4));
    assertFalse(Arrays.equals(bytesOf(le), bytesOf(be)));
  }

  private static byte[] bytesOf(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  private static String entry(String name, String dtype, String shape, String offsets) {
    return "{\""
        + name
        + "\":{\"dtype\":\""
        + dtype
        + "\",\"shape\":"
        + shape
        + ",\"data_offsets\":"
        + offsets
        + "}}";
  }

  private Path writeRaw(String name, String header, byte[] data) throws IOException {
    Path file = dir.resolve(name);
    Files.write(file, rawFile(header.getBytes(StandardCharsets.UTF_8), data));
    return file;
  }

  private static byte[] rawFile(byte[] header, byte[] data) {
    ByteBuffer out =
        ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    return out.putLong(header.length).put(header).put(data).array();
  }

  private static CheckpointException assertOpenFails(Path file, String... fragments) {
    return assertFails(() -> SafetensorsFile.open(file).close(), fragments);
  }

  private static CheckpointException assertFails(Executable action, String... fragments) {
    CheckpointException e = assertThrows(CheckpointException.class, action);
    for (String fragment : fragments) {
      assertTrue(e.getMessage().contains(fragment), () -> "'" + fragment + "' not in: " + e);
    }
    return e;
  }
}
