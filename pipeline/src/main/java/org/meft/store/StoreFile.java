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
import org.meft.settings.Setting;

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
 * in the {@link StoreFormat#F32} layout. The compact formats keep the store's own encoding: with
 * {@code meft.store-dtype} bf16, {@code key} and {@code value} are FixedSizeList&lt;uint16&gt;[d],
 * the upper halves of float32s (numpy: {@code (a.astype(np.uint32) << 16).view(np.float32)}); with
 * {@code meft.store-moments} int8, each moment column is FixedSizeList&lt;int8&gt;[d] of codes of
 * bitsandbytes' dynamic map (signed for m, unsigned for v) beside {@code <moment>_scale}
 * FixedSizeList&lt;float32&gt;[ceil(d / 256)], the block scales; when the keys do not train there
 * are no key moment columns. Files without those metadata keys are float32.
 *
 * <p>No value is null. The rows are written in order in record batches of about {@value
 * #BATCH_BYTES} bytes; a reader accepts any batching and any row order, but every row exactly once.
 * The schema's metadata holds {@code meft.rows} (N) and {@code meft.dim} (d), the format, plus the
 * caller's.
 */
public final class StoreFile {
  public static final String ROW = "row";
  public static final String STEP = "step";
  public static final String ROWS_KEY = "meft.rows";
  public static final String DIM_KEY = "meft.dim";
  public static final String DTYPE_KEY = "meft.store-dtype";
  public static final String MOMENTS_KEY = "meft.store-moments";
  static final long BATCH_BYTES = 8L << 20;
  private static final ArrowType INT32 = new ArrowType.Int(32, true);
  private static final ArrowType FLOAT32 =
      new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE);
  private static final ArrowType UINT16 = new ArrowType.Int(16, false);
  private static final ArrowType INT8 = new ArrowType.Int(8, true);

  private StoreFile() {}

  /** A list column of the file and the store tensor behind it. */
  private record ListColumn(String name, Rows.Column column) {
    Field field() {
      ArrowType item =
          switch (column.kind()) {
            case FLOAT32 -> FLOAT32;
            case UINT16 -> UINT16;
            case INT8 -> INT8;
          };
      return new Field(
          name,
          FieldType.notNullable(new ArrowType.FixedSizeList(column.tensor().dim)),
          List.of(new Field("item", FieldType.notNullable(item), null)));
    }

    long rowBytes() {
      return (long) column.tensor().dim * column.tensor().elementBytes;
    }
  }

  /** The list columns of a layer: each store column it keeps, each of its raw tensors. */
  private static List<ListColumn> columns(StoreLayer l) {
    List<ListColumn> columns = new ArrayList<>();
    for (StoreColumn column : StoreColumn.values()) {
      Rows rows = l.tensor(column);
      if (rows != null) {
        for (Rows.Column raw : rows.columns()) {
          columns.add(new ListColumn(column.columnName() + raw.suffix(), raw));
        }
      }
    }
    return columns;
  }

  /** The schema of a store file of {@code l}'s layout. */
  private static Schema schema(StoreLayer l, Map<String, String> metadata) {
    List<Field> fields = new ArrayList<>();
    fields.add(new Field(ROW, FieldType.notNullable(INT32), null));
    for (ListColumn column : columns(l)) {
      fields.add(column.field());
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
    metadata.put(DTYPE_KEY, Setting.spelled(l.format.dtype()));
    metadata.put(MOMENTS_KEY, Setting.spelled(l.format.moments()));
    List<ListColumn> columns = columns(l);
    int batchRows = batchRows(rows, columns, batchBytes);
    try (BufferAllocator io = allocator.newChildAllocator("store-file-write", 0, Long.MAX_VALUE);
        VectorSchemaRoot root = VectorSchemaRoot.create(schema(l, metadata), io);
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
        fill(root, l, columns, from, count);
        writer.writeBatch();
      }
      writer.end();
      channel.force(true);
    } catch (IOException | RuntimeException e) {
      throw new CheckpointException(file, "cannot write the host store file: " + e, e);
    }
  }

  private static void fill(
      VectorSchemaRoot root, StoreLayer l, List<ListColumn> columns, int from, int count) {
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
    for (ListColumn column : columns) {
      FixedSizeListVector list = (FixedSizeListVector) root.getVector(column.name());
      list.setInitialCapacity(count);
      list.allocateNew();
      BaseFixedWidthVector items = (BaseFixedWidthVector) list.getDataVector();
      long elements = (long) count * column.column().tensor().dim;
      if (items.getValueCapacity() < elements) {
        throw new IllegalStateException(
            "column " + column.name() + " allocated " + items.getValueCapacity() + " elements");
      }
      column.column().tensor().copyRowsTo(from, count, items.getDataBuffer(), 0);
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
  private static int batchRows(int rows, List<ListColumn> columns, long batchBytes) {
    long rowBytes = 2L * Integer.BYTES;
    for (ListColumn column : columns) {
      rowBytes += column.rowBytes();
    }
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
    BitSet seen = new BitSet(rows);
    List<ListColumn> columns = columns(l);
    try (BufferAllocator io = allocator.newChildAllocator("store-file-read", 0, Long.MAX_VALUE);
        FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
        ArrowFileReader reader = new ArrowFileReader(channel, io)) {
      VectorSchemaRoot root = reader.getVectorSchemaRoot();
      checkFormat(file, root.getSchema(), l.format);
      checkSchema(file, root.getSchema(), schema(l, Map.of()), rows);
      checkMetadata(file, root.getSchema(), expected);
      for (ArrowBlock block : reader.getRecordBlocks()) {
        if (!reader.loadRecordBatch(block)) {
          throw new CheckpointException(file, "record batch at offset " + block.getOffset());
        }
        copyBatch(file, root, l, columns, seen, rows);
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

  /**
   * The file's element types against the store's: a file without the keys (written before the
   * compact formats) is float32.
   */
  private static void checkFormat(Path file, Schema schema, StoreFormat format) {
    Map<String, String> metadata = schema.getCustomMetadata();
    String dtype = metadata == null ? null : metadata.get(DTYPE_KEY);
    String moments = metadata == null ? null : metadata.get(MOMENTS_KEY);
    dtype = dtype == null ? Setting.spelled(StoreDtype.F32) : dtype;
    moments = moments == null ? Setting.spelled(StoreMoments.F32) : moments;
    if (!dtype.equals(Setting.spelled(format.dtype()))) {
      throw new CheckpointException(
          file,
          "holds a store of "
              + dtype
              + " rows, the adapter's store-dtype is "
              + Setting.spelled(format.dtype()));
    }
    if (!moments.equals(Setting.spelled(format.moments()))) {
      throw new CheckpointException(
          file,
          "holds "
              + moments
              + " AdamW moments, the adapter's store-moments is "
              + Setting.spelled(format.moments()));
    }
  }

  private static void checkSchema(Path file, Schema schema, Schema expected, int rows) {
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
                  || !got.getChildren()
                      .get(0)
                      .getType()
                      .equals(want.getChildren().get(0).getType())))) {
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
      Path file,
      VectorSchemaRoot root,
      StoreLayer l,
      List<ListColumn> columns,
      BitSet seen,
      int rows) {
    int count = root.getRowCount();
    IntVector row = (IntVector) root.getVector(ROW);
    IntVector step = (IntVector) root.getVector(STEP);
    List<FixedSizeListVector> lists = new ArrayList<>();
    for (ListColumn column : columns) {
      lists.add((FixedSizeListVector) root.getVector(column.name()));
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
    for (int c = 0; c < lists.size(); c++) {
      checkCapacity(file, lists.get(c).getDataVector(), count * columns.get(c).rowBytes());
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
      for (int c = 0; c < lists.size(); c++) {
        ArrowBuf data = ((BaseFixedWidthVector) lists.get(c).getDataVector()).getDataBuffer();
        RowTensor tensor = columns.get(c).column().tensor();
        tensor.copyRowsFrom(data, i * columns.get(c).rowBytes(), first, run);
      }
      i = end;
    }
  }
}
