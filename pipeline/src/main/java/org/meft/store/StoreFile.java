package org.meft.store;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.BaseFixedWidthVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.ipc.ArrowFileReader;
import org.apache.arrow.vector.ipc.ArrowFileWriter;
import org.apache.arrow.vector.ipc.message.ArrowBlock;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;
import org.meft.format.CheckpointException;

/**
 * One layer of a {@link HostStore} as an Arrow IPC file (the random-access "file" format, {@code
 * .arrow}), readable by any Arrow implementation. Columns, one table row per store row:
 *
 * <pre>
 *   row                                   int32          the row index in [0, N)
 *   key, value                            FixedSizeList&lt;float32&gt;[d]   K[row], V[row]
 *   key_m, key_v, value_m, value_v        FixedSizeList&lt;float32&gt;[d]   AdamW moments m, v
 *   step                                  int32          the row's AdamW step count t
 * </pre>
 *
 * No value is null. The rows are written in order in record batches of about {@value #BATCH_BYTES}
 * bytes; a reader accepts any batching and any row order, but every row exactly once. The schema's
 * metadata holds {@code meft.rows} (N) and {@code meft.dim} (d), plus the caller's.
 */
public final class StoreFile {
  public static final String ROW = "row";
  public static final String STEP = "step";
  public static final String ROWS_KEY = "meft.rows";
  public static final String DIM_KEY = "meft.dim";
  static final long BATCH_BYTES = 8L << 20;
  private static final ArrowType INT32 = new ArrowType.Int(32, true);
  private static final ArrowType FLOAT32 =
      new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE);

  private StoreFile() {}

  /** The schema of a store file for rows of {@code dim} floats. */
  public static Schema schema(int dim, Map<String, String> metadata) {
    List<Field> fields = new ArrayList<>();
    fields.add(new Field(ROW, FieldType.notNullable(INT32), null));
    for (StoreColumn column : StoreColumn.values()) {
      Field item = new Field("item", FieldType.notNullable(FLOAT32), null);
      fields.add(
          new Field(
              column.columnName(),
              FieldType.notNullable(new ArrowType.FixedSizeList(dim)),
              List.of(item)));
    }
    fields.add(new Field(STEP, FieldType.notNullable(INT32), null));
    return new Schema(fields, metadata);
  }

  /**
   * Writes {@code layer} of {@code store} to {@code file} (created or replaced) and forces it to
   * disk; batches are allocated from {@code allocator}.
   *
   * @throws CheckpointException if the file cannot be written
   */
  public static void write(
      HostStore store, int layer, Path file, BufferAllocator allocator, Map<String, String> meta) {
    write(store, layer, file, allocator, meta, BATCH_BYTES);
  }

  static void write(
      HostStore store,
      int layer,
      Path file,
      BufferAllocator allocator,
      Map<String, String> meta,
      long batchBytes) {
    StoreLayer l = store.layerState(layer);
    int rows = store.rows();
    int dim = store.dim();
    Map<String, String> metadata = new LinkedHashMap<>(meta);
    metadata.put(ROWS_KEY, Integer.toString(rows));
    metadata.put(DIM_KEY, Integer.toString(dim));
    int batchRows = batchRows(rows, dim, batchBytes);
    try (BufferAllocator io = allocator.newChildAllocator("store-file-write", 0, Long.MAX_VALUE);
        VectorSchemaRoot root = VectorSchemaRoot.create(schema(dim, metadata), io);
        FileChannel channel =
            FileChannel.open(
                file,
                StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE);
        ArrowFileWriter writer = new ArrowFileWriter(root, null, channel)) {
      writer.start();
      for (int from = 0; from < rows; from += batchRows) {
        int count = Math.min(batchRows, rows - from);
        fill(root, l, from, count, dim);
        writer.writeBatch();
      }
      writer.end();
      channel.force(true);
    } catch (IOException | RuntimeException e) {
      throw new CheckpointException(file, "cannot write the host store file: " + e, e);
    }
  }

  private static void fill(VectorSchemaRoot root, StoreLayer l, int from, int count, int dim) {
    IntVector row = (IntVector) root.getVector(ROW);
    IntVector step = (IntVector) root.getVector(STEP);
    for (IntVector v : List.of(row, step)) {
      v.allocateNew(count);
    }
    for (int i = 0; i < count; i++) {
      row.set(i, from + i);
    }
    l.copyStepsTo(from, count, step.getDataBuffer(), 0);
    markDefined(step, count);
    for (StoreColumn column : StoreColumn.values()) {
      FixedSizeListVector list = (FixedSizeListVector) root.getVector(column.columnName());
      list.setInitialCapacity(count);
      list.allocateNew();
      BaseFixedWidthVector items = (BaseFixedWidthVector) list.getDataVector();
      long elements = (long) count * dim;
      if (items.getValueCapacity() < elements) {
        throw new IllegalStateException(
            "column " + column.columnName() + " allocated " + items.getValueCapacity() + " floats");
      }
      l.tensor(column).copyRowsTo(from, count, items.getDataBuffer(), 0);
      markDefined(items, elements);
      markDefined(list, count);
      list.setValueCount(count);
    }
    root.setRowCount(count);
  }

  /** Sets the validity bits of elements [0, count): nothing is null. */
  private static void markDefined(FieldVector vector, long count) {
    ArrowBuf validity = vector.getValidityBuffer();
    validity.setOne(0, (count + 7) / 8);
  }

  /** Rows per record batch: about {@code batchBytes} of the columns. */
  static int batchRows(int rows, int dim, long batchBytes) {
    long rowBytes = 6L * dim * Float.BYTES + 2L * Integer.BYTES;
    return (int) Math.max(1, Math.min(rows, batchBytes / rowBytes));
  }

  /**
   * Reads {@code file} into {@code layer} of {@code store}, checking the schema against the store's
   * row count and dimension and that every row appears exactly once.
   *
   * @throws CheckpointException naming the file and what is wrong
   */
  public static void read(HostStore store, int layer, Path file, BufferAllocator allocator) {
    read(store, layer, file, allocator, Map.of());
  }

  /**
   * As {@link #read(HostStore, int, Path, BufferAllocator)}, also checking that the schema's
   * metadata holds each entry of {@code expected} (a checkpoint's file records its model layer and
   * step there, so a file swapped with another layer's or copied from another step is refused).
   */
  public static void read(
      HostStore store,
      int layer,
      Path file,
      BufferAllocator allocator,
      Map<String, String> expected) {
    StoreLayer l = store.layerState(layer);
    int rows = store.rows();
    int dim = store.dim();
    BitSet seen = new BitSet(rows);
    try (BufferAllocator io = allocator.newChildAllocator("store-file-read", 0, Long.MAX_VALUE);
        FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
        ArrowFileReader reader = new ArrowFileReader(channel, io)) {
      VectorSchemaRoot root = reader.getVectorSchemaRoot();
      checkSchema(file, root.getSchema(), rows, dim);
      checkMetadata(file, root.getSchema(), expected);
      for (ArrowBlock block : reader.getRecordBlocks()) {
        if (!reader.loadRecordBatch(block)) {
          throw new CheckpointException(file, "record batch at offset " + block.getOffset());
        }
        copyBatch(file, root, l, seen, rows, dim);
      }
    } catch (CheckpointException e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      throw new CheckpointException(file, "not a readable Arrow IPC file: " + e, e);
    }
    if (seen.cardinality() != rows) {
      throw new CheckpointException(
          file,
          "holds "
              + seen.cardinality()
              + " of the "
              + rows
              + " rows; first missing row is "
              + seen.nextClearBit(0));
    }
  }

  private static void checkSchema(Path file, Schema schema, int rows, int dim) {
    Schema expected = schema(dim, Map.of());
    for (Field want : expected.getFields()) {
      Field got;
      try {
        got = schema.findField(want.getName());
      } catch (IllegalArgumentException e) {
        throw new CheckpointException(file, "no column '" + want.getName() + "'");
      }
      if (!got.getType().equals(want.getType())
          || (want.getChildren().size() == 1
              && (got.getChildren().size() != 1
                  || !got.getChildren().get(0).getType().equals(FLOAT32)))) {
        throw new CheckpointException(
            file,
            "column '" + want.getName() + "' is " + describe(got) + ", expected " + describe(want));
      }
    }
    String fileRows = schema.getCustomMetadata().get(ROWS_KEY);
    if (fileRows != null && !fileRows.equals(Integer.toString(rows))) {
      throw new CheckpointException(
          file, "holds a store of " + fileRows + " rows, the adapter has " + rows);
    }
  }

  private static void checkMetadata(Path file, Schema schema, Map<String, String> expected) {
    Map<String, String> metadata = schema.getCustomMetadata();
    for (Map.Entry<String, String> e : expected.entrySet()) {
      String got = metadata == null ? null : metadata.get(e.getKey());
      if (!e.getValue().equals(got)) {
        throw new CheckpointException(
            file,
            "its schema records "
                + e.getKey()
                + " "
                + got
                + ", expected "
                + e.getValue()
                + " (a file of another layer or checkpoint)");
      }
    }
  }

  private static String describe(Field field) {
    return field.getChildren().isEmpty()
        ? field.getType().toString()
        : field.getType() + "<" + field.getChildren().get(0).getType() + ">";
  }

  private static void checkCapacity(Path file, FieldVector vector, long bytes) {
    if (vector.getDataBuffer().capacity() < bytes) {
      throw new CheckpointException(
          file,
          "column '"
              + vector.getName()
              + "' holds "
              + vector.getDataBuffer().capacity()
              + " bytes, its batch needs "
              + bytes);
    }
  }

  private static void copyBatch(
      Path file, VectorSchemaRoot root, StoreLayer l, BitSet seen, int rows, int dim) {
    int count = root.getRowCount();
    IntVector row = (IntVector) root.getVector(ROW);
    IntVector step = (IntVector) root.getVector(STEP);
    List<FixedSizeListVector> lists = new ArrayList<>();
    for (StoreColumn column : StoreColumn.values()) {
      lists.add((FixedSizeListVector) root.getVector(column.columnName()));
    }
    for (FieldVector v : root.getFieldVectors()) {
      boolean ours = v == row || v == step || lists.contains(v);
      if (ours
          && (v.getNullCount() > 0
              || (v instanceof FixedSizeListVector list
                  && list.getDataVector().getNullCount() > 0))) {
        throw new CheckpointException(file, "column '" + v.getName() + "' holds nulls");
      }
    }
    // A damaged file can announce more rows than its buffers hold; never read past them.
    checkCapacity(file, step, (long) count * Integer.BYTES);
    for (FixedSizeListVector list : lists) {
      checkCapacity(file, list.getDataVector(), (long) count * dim * Float.BYTES);
    }
    // Rows are copied in runs of consecutive ids: one memory copy per run and column.
    int i = 0;
    while (i < count) {
      int first = row.get(i);
      int end = i + 1;
      while (end < count && row.get(end) == first + (end - i)) {
        end++;
      }
      int run = end - i;
      if (first < 0 || first + run > rows) {
        throw new CheckpointException(
            file, "row id " + (first < 0 ? first : first + run - 1) + " not in [0, " + rows + ")");
      }
      int dup = seen.nextSetBit(first);
      if (dup >= 0 && dup < first + run) {
        throw new CheckpointException(file, "row " + dup + " appears twice");
      }
      seen.set(first, first + run);
      l.copyStepsFrom(step.getDataBuffer(), (long) i * Integer.BYTES, first, run);
      for (StoreColumn column : StoreColumn.values()) {
        FixedSizeListVector list = lists.get(column.ordinal());
        ArrowBuf data = ((BaseFixedWidthVector) list.getDataVector()).getDataBuffer();
        l.tensor(column).copyRowsFrom(data, (long) i * dim * Float.BYTES, first, run);
      }
      i = end;
    }
  }
}
