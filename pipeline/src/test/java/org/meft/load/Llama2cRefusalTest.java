package org.meft.load;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.meft.testing.Refusal;

/**
 * Malformed llama2.c headers, generated here (the file is sparse where it must be large), each
 * refused with one line naming the file and the header field, before any weight is read.
 */
class Llama2cRefusalTest {
  private static final int G = 1 << 30;

  @TempDir Path dir;
  private int written;

  /** A file of the 7-int header {@code h}, {@code size} bytes long (zeros after the header). */
  private Path file(long size, int... h) {
    Path file = dir.resolve("model-" + written++ + ".bin");
    ByteBuffer header = ByteBuffer.allocate(28).order(ByteOrder.LITTLE_ENDIAN);
    for (int v : h) {
      header.putInt(v);
    }
    try (RandomAccessFile out = new RandomAccessFile(file.toFile(), "rw")) {
      out.write(header.array(), 0, (int) Math.min(size, 28));
      out.setLength(size);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return file;
  }

  private Refusal header(String name, long size, int[] h, String... fragments) {
    Path file = file(size, h);
    String[] expected =
        Stream.concat(Stream.of(file.toString()), Stream.of(fragments)).toArray(String[]::new);
    return Refusal.of(name, () -> Llama2cCheckpoint.readConfig(file), expected);
  }

  @TestFactory
  Stream<DynamicTest> malformedHeaders() {
    // The size its header implies (28 + 4 * floats), over 2 GiB; the embedding alone is over 2 GiB.
    Path huge = file(2_176_868_380L, 1024, 1024, 1, 8, 8, (1 << 19) + 1, 16);
    return Stream.of(
            header("n_heads 0", 4096, new int[] {64, 172, 2, 0, 4, 512, 64}, "n_heads", "> 0"),
            header("n_kv_heads 0", 4096, new int[] {64, 172, 2, 8, 0, 512, 64}, "n_kv_heads"),
            header("dimensions 2^30", 4096, new int[] {G, G, G, G, G, G, G}, "dim", "at most"),
            header("n_layers 2^30", 4096, new int[] {64, 172, G, 8, 4, 512, 64}, "n_layers"),
            header("negative hidden_dim", 4096, new int[] {64, -1, 2, 8, 4, 512, 64}, "hidden_dim"),
            header("seq_len 0", 4096, new int[] {64, 172, 2, 8, 4, 512, 0}, "seq_len"),
            header(
                "dim not a multiple of n_heads",
                4096,
                new int[] {64, 172, 2, 6, 6, 512, 64},
                "dim",
                "n_heads"),
            header(
                "n_heads not a multiple of n_kv_heads",
                4096,
                new int[] {64, 172, 2, 8, 3, 512, 64},
                "n_kv_heads"),
            header("wrong size", 4096, new int[] {64, 172, 2, 8, 4, 512, 64}, "needs"),
            header("too short", 10, new int[] {64, 172, 2, 8, 4, 512, 64}, "too short"),
            Refusal.of(
                "a tensor over 2 GiB in a file over 2 GiB",
                () -> {
                  try (NDManager manager = NDManager.newBaseManager()) {
                    Llama2cCheckpoint.load(huge, manager, DataType.FLOAT32);
                  }
                },
                huge.toString(),
                "model.embed_tokens.weight",
                "2 GiB"))
        .map(Refusal::test);
  }
}
