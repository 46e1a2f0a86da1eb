package org.meft.format;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.meft.testing.Refusal;

/**
 * Malformed safetensors headers, generated here, each refused when opened with one line naming the
 * file and the tensor, as the reference implementation ({@code safetensors/src/tensor.rs}, {@code
 * Metadata::validate}) refuses them: offsets sorted by begin must start at 0, follow each other
 * without gap or overlap and end at the end of the file; names are unique.
 */
class SafetensorsRefusalTest {
  @TempDir Path dir;

  /** An F32 entry of {@code elements} values at [begin, end). */
  private static String entry(String name, int elements, long begin, long end) {
    return "\""
        + name
        + "\":{\"dtype\":\"F32\",\"shape\":["
        + elements
        + "],\"data_offsets\":["
        + begin
        + ","
        + end
        + "]}";
  }

  /** A file of {@code {entries}} followed by {@code dataBytes} zero bytes. */
  private Path file(String name, long dataBytes, String... entries) {
    byte[] header = ("{" + String.join(",", entries) + "}").getBytes(StandardCharsets.UTF_8);
    ByteBuffer bytes =
        ByteBuffer.allocate(8 + header.length + (int) dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    bytes.putLong(header.length).put(header);
    Path file = dir.resolve(name + ".safetensors");
    try {
      Files.write(file, bytes.array());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return file;
  }

  private Refusal refused(String name, long dataBytes, List<String> entries, String... fragments) {
    Path file = file(name, dataBytes, entries.toArray(String[]::new));
    String[] expected =
        Stream.concat(Stream.of(file.toString()), Stream.of(fragments)).toArray(String[]::new);
    return Refusal.of(name, () -> SafetensorsFile.open(file).close(), expected);
  }

  @TestFactory
  Stream<DynamicTest> malformedHeaders() {
    return Stream.of(
            refused(
                "overlapping",
                24,
                List.of(entry("a", 4, 0, 16), entry("b", 4, 8, 24)),
                "'b'",
                "overlaps"),
            refused(
                "same-range",
                16,
                List.of(entry("a", 4, 0, 16), entry("b", 4, 0, 16)),
                "'b'",
                "overlaps"),
            refused("gap", 36, List.of(entry("a", 4, 0, 16), entry("b", 4, 20, 36)), "'b'", "gap"),
            refused("not-at-zero", 20, List.of(entry("a", 4, 4, 20)), "'a'", "gap"),
            refused(
                "duplicate-name",
                32,
                List.of(entry("a", 4, 0, 16), entry("a", 4, 16, 32)),
                "'a'",
                "more than once"),
            refused(
                "trailing-bytes",
                24,
                List.of(entry("a", 4, 0, 16)),
                "8 bytes",
                "after the last tensor"),
            refused("past-the-end", 8, List.of(entry("a", 4, 0, 16)), "'a'", "truncated"),
            refused("size-mismatch", 8, List.of(entry("a", 4, 0, 8)), "'a'", "needs 16 bytes"),
            refused("begin-after-end", 16, List.of(entry("a", 4, 16, 0)), "'a'", "begin <= end"),
            refused(
                "overflowing-shape",
                16,
                List.of(
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                        + "\"data_offsets\":[0,16]}"),
                "'a'",
                "impossible"),
            refused(
                "fractional-offset",
                16,
                List.of("\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16.5]}"),
                "'a'",
                "data_offsets"),
            refused(
                "string-shape",
                16,
                List.of("\"a\":{\"dtype\":\"F32\",\"shape\":[\"4\"],\"data_offsets\":[0,16]}"),
                "'a'",
                "shape"))
        .map(Refusal::test);
  }

  @Test
  void contiguousOffsetsInAnotherOrderThanTheHeaderAreAccepted() {
    Path file = file("reordered", 32, entry("b", 4, 16, 32), entry("a", 4, 0, 16));
    try (SafetensorsFile opened = SafetensorsFile.open(file)) {
      assertEquals(16, opened.tensors().get("b").begin());
      assertEquals(2, opened.tensors().size());
    }
  }
}
