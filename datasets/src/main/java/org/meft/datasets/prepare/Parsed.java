package org.meft.datasets.prepare;

import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.meft.datasets.Record;
import org.meft.datasets.RejectReason;
import scala.jdk.javaapi.CollectionConverters;

/**
 * What reading one raw unit gave: a {@link Record}, or a rejection with its reason. Either way it
 * names its source file, position and ordinal (the unit's rank in the file), so every unit read is
 * accounted for.
 *
 * @param dataset the dataset's name
 * @param sourceFile the source file's absolute path
 * @param position where in the file: {@code line 12}, {@code data[3].paragraphs[1].qas[0]}, {@code
 *     row 7}, {@code file}
 * @param ordinal the unit's rank in its file, for a stable order
 * @param record the record, or null when rejected
 * @param split the split of a rejected unit when its file decides it, else null
 * @param reason why it was rejected, or null
 * @param message the rejection's message, or null
 * @param raw the rejected unit's text, cut to {@value #RAW_CHARS} characters, or null
 */
public record Parsed(
    String dataset,
    String sourceFile,
    String position,
    long ordinal,
    Record record,
    String split,
    RejectReason reason,
    String message,
    String raw) {
  /** The longest raw text kept with a rejection. */
  public static final int RAW_CHARS = 2000;

  /**
   * The columns of parsed units: the common record's (null when rejected), the source's, and the
   * rejection's (null when valid).
   */
  public static final StructType SCHEMA =
      new StructType()
          .add("dataset", DataTypes.StringType, false)
          .add("split", DataTypes.StringType, true)
          .add("id", DataTypes.StringType, true)
          .add("prompt", DataTypes.StringType, true)
          .add("target", DataTypes.StringType, true)
          .add("references", DataTypes.createArrayType(DataTypes.StringType, false), true)
          .add(
              "extras",
              DataTypes.createMapType(DataTypes.StringType, DataTypes.StringType, false),
              true)
          .add("source_file", DataTypes.StringType, false)
          .add("position", DataTypes.StringType, false)
          .add("ordinal", DataTypes.LongType, false)
          .add("reason_code", DataTypes.StringType, true)
          .add("reason", DataTypes.StringType, true)
          .add("raw", DataTypes.StringType, true);

  /** A rejection; {@code raw} is cut to {@link #RAW_CHARS}. */
  public static Parsed rejected(
      SourceFile source,
      String position,
      long ordinal,
      String split,
      RejectReason reason,
      String message,
      String raw) {
    String kept = raw == null || raw.length() <= RAW_CHARS ? raw : raw.substring(0, RAW_CHARS);
    return new Parsed(
        source.dataset(), source.path(), position, ordinal, null, split, reason, message, kept);
  }

  /** A row of {@link #SCHEMA}. */
  public Row toRow() {
    if (record == null) {
      return RowFactory.create(
          dataset,
          split,
          null,
          null,
          null,
          null,
          null,
          sourceFile,
          position,
          ordinal,
          reason.code(),
          message,
          raw);
    }
    return RowFactory.create(
        dataset,
        record.split().label(),
        record.id(),
        record.prompt(),
        record.target(),
        CollectionConverters.asScala(record.references()).toSeq(),
        CollectionConverters.asScala(record.extras()),
        sourceFile,
        position,
        ordinal,
        null,
        null,
        null);
  }
}
