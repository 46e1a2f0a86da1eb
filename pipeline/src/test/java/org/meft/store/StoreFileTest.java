package org.meft.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowFileReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.meft.format.CheckpointException;

/** A store layer survives an Arrow IPC round trip bit for bit; damaged files are refused. */
class StoreFileTest {
  private static final int ROWS = 50;
  private static final int DIM = 8;

  @TempDir Path dir;

  @Test
  void roundTripRestoresEveryColumnBitExactly() throws IOException {
    try (BufferAllocator allocator = new RootAllocator(16L << 20);
        HostStore source = HostStore.allocate(allocator, 2, ROWS, DIM, 0.02f, 3);
        HostStore target = HostStore.allocateZeroed(allocator, 2, ROWS, DIM)) {
      fill(source, new Random(9));
      for (int layer = 0; layer < 2; layer++) {
        Path file = dir.resolve("layer-" + layer + ".arrow");
        // Small batches, so that a file holds several record batches and a partial last one.
        StoreFile.write(source, layer, file, allocator, Map.of("meft.layer", "" + layer), 1400);
        assertEquals(8, recordBatches(file, allocator)); // 7 rows of 200 bytes each, then 1
        StoreFile.read(target, layer, file, allocator);
      }
      for (int layer = 0; layer < 2; layer++) {
        for (int row = 0; row < ROWS; row++) {
          String where = layer + "/" + row;
          assertBits(source.keyRow(layer, row), target.keyRow(layer, row), "key " + where);
          assertBits(source.valueRow(layer, row), target.valueRow(layer, row), "value " + where);
          for (int moment = 1; moment <= 2; moment++) {
            assertBits(
                source.keyMomentRow(layer, row, moment),
                target.keyMomentRow(layer, row, moment),
                "key moment " + moment + " " + where);
            assertBits(
                source.valueMomentRow(layer, row, moment),
                target.valueMomentRow(layer, row, moment),
                "value moment " + moment + " " + where);
          }
          assertEquals(source.stepCount(layer, row), target.stepCount(layer, row), where);
        }
      }
    }
  }

  /**
   * Every store format round-trips exactly: its own codes are written (bf16 as uint16, int8 moments
   * with their block scales, no key moments when the keys do not train) and read back.
   */
  @ParameterizedTest(name = "{0} {1}, keys trained {2}")
  @CsvSource({
    "F32, F32, true",
    "F32, F32, false",
    "BF16, F32, true",
    "F32, INT8, true",
    "BF16, INT8, true",
    "BF16, INT8, false"
  })
  void everyFormatRoundTripsExactly(StoreDtype dtype, StoreMoments moments, boolean trainKeys)
      throws IOException {
    StoreFormat format = new StoreFormat(dtype, moments, trainKeys);
    try (BufferAllocator allocator = new RootAllocator(16L << 20);
        HostStore source = HostStore.allocate(allocator, 1, ROWS, DIM, format, 0.02f, 3);
        HostStore target = HostStore.allocateZeroed(allocator, 1, ROWS, DIM, format);
        HostStore f32 = HostStore.allocateZeroed(allocator, 1, ROWS, DIM)) {
      fill(source, new Random(9));
      Path file = dir.resolve("layer.arrow");
      StoreFile.write(source, 0, file, allocator, Map.of(), 1400);
      StoreFile.read(target, 0, file, allocator);
      for (int row = 0; row < ROWS; row++) {
        assertBits(source.keyRow(0, row), target.keyRow(0, row), "key " + row);
        assertBits(source.valueRow(0, row), target.valueRow(0, row), "value " + row);
        for (int moment = 1; moment <= 2; moment++) {
          assertBits(
              source.keyMomentRow(0, row, moment),
              target.keyMomentRow(0, row, moment),
              "key moment " + row);
          assertBits(
              source.valueMomentRow(0, row, moment),
              target.valueMomentRow(0, row, moment),
              "value moment " + row);
        }
        assertEquals(source.stepCount(0, row), target.stepCount(0, row));
      }
      if (dtype != StoreDtype.F32) {
        assertRefused(
            () -> StoreFile.read(f32, 0, file, allocator),
            file,
            "holds a store of bf16 rows, the adapter's store-dtype is f32");
      } else if (moments != StoreMoments.F32) {
        assertRefused(
            () -> StoreFile.read(f32, 0, file, allocator),
            file,
            "holds int8 AdamW moments, the adapter's store-moments is f32");
      }
    }
  }

  /**
   * A store whose keys do not train reads a file with key moments (an older run's) without them.
   */
  @Test
  void aStoreWithFrozenKeysReadsAFileWithKeyMoments() throws IOException {
    try (BufferAllocator allocator = new RootAllocator(16L << 20);
        HostStore source = HostStore.allocate(allocator, 1, ROWS, DIM, 0.02f, 3);
        HostStore frozen =
            HostStore.allocateZeroed(
                allocator,
                1,
                ROWS,
                DIM,
                new StoreFormat(StoreDtype.F32, StoreMoments.F32, false))) {
      fill(source, new Random(9));
      Path file = dir.resolve("layer.arrow");
      StoreFile.write(source, 0, file, allocator, Map.of());
      StoreFile.read(frozen, 0, file, allocator);
      for (int row = 0; row < ROWS; row++) {
        assertBits(source.keyRow(0, row), frozen.keyRow(0, row), "key " + row);
        assertBits(source.valueMomentRow(0, row, 2), frozen.valueMomentRow(0, row, 2), "v");
      }
    }
  }

  @Test
  void damagedOrMismatchedFilesNameTheFile() throws IOException {
    try (BufferAllocator allocator = new RootAllocator(16L << 20);
        HostStore source = HostStore.allocate(allocator, 1, ROWS, DIM, 0.02f, 3);
        HostStore other = HostStore.allocateZeroed(allocator, 1, ROWS + 1, DIM);
        HostStore wider = HostStore.allocateZeroed(allocator, 1, ROWS, DIM * 2);
        HostStore target = HostStore.allocateZeroed(allocator, 1, ROWS, DIM)) {
      Path file = dir.resolve("layer-00.arrow");
      StoreFile.write(source, 0, file, allocator, Map.of());

      assertRefused(
          () -> StoreFile.read(other, 0, file, allocator),
          file,
          "store of 50 rows, the adapter has 51");
      assertRefused(
          () -> StoreFile.read(wider, 0, file, allocator),
          file,
          "column 'key' is FixedSizeList(8)<FloatingPoint(SINGLE)>, expected FixedSizeList(16)");

      Path truncated = dir.resolve("truncated.arrow");
      Files.copy(file, truncated);
      try (FileChannel channel = FileChannel.open(truncated, StandardOpenOption.WRITE)) {
        channel.truncate(Files.size(file) / 2);
      }
      assertRefused(() -> StoreFile.read(target, 0, truncated, allocator), truncated, "Arrow");

      Path garbage = dir.resolve("garbage.arrow");
      Files.writeString(garbage, "not an arrow file at all, just some text of moderate length");
      assertRefused(() -> StoreFile.read(target, 0, garbage, allocator), garbage, "Arrow");

      Path missing = dir.resolve("missing.arrow");
      assertRefused(() -> StoreFile.read(target, 0, missing, allocator), missing, "");
    }
  }

  private static void assertRefused(Runnable read, Path file, String expected) {
    CheckpointException e = assertThrows(CheckpointException.class, read::run);
    assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
    assertTrue(e.getMessage().contains(expected), e.getMessage());
  }

  private static int recordBatches(Path file, BufferAllocator allocator) throws IOException {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
        ArrowFileReader reader = new ArrowFileReader(channel, allocator)) {
      VectorSchemaRoot root = reader.getVectorSchemaRoot();
      assertEquals(8, root.getSchema().getFields().size());
      return reader.getRecordBlocks().size();
    }
  }

  /** Random values with the awkward ones mixed in: -0, subnormals, infinities, a NaN payload. */
  private static void fill(HostStore store, Random random) {
    float[] special = {
      -0f,
      Float.MIN_VALUE,
      -Float.MIN_NORMAL / 3,
      Float.POSITIVE_INFINITY,
      Float.intBitsToFloat(0x7fc01234)
    };
    for (int layer = 0; layer < store.layers(); layer++) {
      for (int row = 0; row < ROWS; row++) {
        store.setValueRow(layer, row, row(random, special));
        for (int moment = 1; moment <= 2; moment++) {
          if (store.format().trainKeys()) {
            store.setKeyMomentRow(layer, row, moment, row(random, special));
          }
          store.setValueMomentRow(layer, row, moment, row(random, special));
        }
        store.setStepCount(layer, row, random.nextInt(1000));
      }
    }
  }

  private static float[] row(Random random, float[] special) {
    float[] row = new float[DIM];
    for (int i = 0; i < DIM; i++) {
      row[i] =
          random.nextInt(4) == 0
              ? special[random.nextInt(special.length)]
              : (float) random.nextGaussian();
    }
    return row;
  }

  private static void assertBits(float[] expected, float[] actual, String what) {
    for (int i = 0; i < expected.length; i++) {
      assertEquals(
          Float.floatToRawIntBits(expected[i]),
          Float.floatToRawIntBits(actual[i]),
          what + " [" + i + "]");
    }
  }
}
