package org.meft.datasets.prepare;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.struct;
import static org.apache.spark.sql.functions.to_json;

import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.meft.datasets.FileType;
import org.meft.datasets.RejectReason;

/**
 * Reads and validates the source files as Spark jobs: JSON and JSON Lines files through Spark's
 * {@code binaryFile} source (one task per file, parsed by {@link RawParser}), Parquet files through
 * Spark's Parquet reader (each row as the JSON object of its columns, positioned by {@code
 * _metadata.row_index}). The result has {@link Parsed#SCHEMA}: one row per unit read.
 *
 * <p>A JSON or JSON Lines file is read and parsed whole by one task, which holds its rows until the
 * task ends: files up to a few hundred megabytes (the official files are at most 30 MB; larger
 * corpora come as many files or as Parquet). Parquet strings are UTF-8 by the format's contract, so
 * invalid bytes are only detected in JSON files.
 */
final class RawReader {
  private RawReader() {}

  static Dataset<Row> read(SparkSession spark, List<SourceFile> sources, double testFraction) {
    List<Dataset<Row>> parts = new ArrayList<>();
    List<SourceFile> documents =
        sources.stream().filter(source -> source.type() != FileType.PARQUET).toList();
    if (!documents.isEmpty()) {
      Map<String, SourceFile> byPath =
          documents.stream().collect(Collectors.toMap(SourceFile::path, Function.identity()));
      parts.add(
          spark
              .read()
              .format("binaryFile")
              .load(documents.stream().map(s -> escapeGlob(s.path())).toArray(String[]::new))
              .select("path", "content")
              .flatMap(new ParseFiles(byPath, testFraction), Encoders.row(Parsed.SCHEMA)));
    }
    for (SourceFile source : sources) {
      if (source.type() == FileType.PARQUET) {
        parts.add(readParquet(spark, source, testFraction));
      }
    }
    return parts.stream().reduce(Dataset::unionAll).orElseThrow();
  }

  private static Dataset<Row> readParquet(
      SparkSession spark, SourceFile source, double testFraction) {
    Dataset<Row> table;
    try {
      table = spark.read().parquet(escapeGlob(source.path()));
    } catch (RuntimeException e) {
      // A corrupt footer fails schema inference on the driver: the whole file is one rejection.
      Parsed unreadable =
          Parsed.rejected(
              source,
              "file",
              0,
              null,
              RejectReason.UNREADABLE_FILE,
              "not a readable Parquet file: " + e.getMessage().lines().findFirst().orElse(""),
              null);
      return spark.createDataFrame(List.of(unreadable.toRow()), Parsed.SCHEMA);
    }
    Column[] columns =
        Arrays.stream(table.columns()).map(name -> col("`" + name + "`")).toArray(Column[]::new);
    return table
        .select(to_json(struct(columns)).as("json"), col("_metadata.row_index").as("row"))
        .flatMap(new ParseRows(source, testFraction), Encoders.row(Parsed.SCHEMA));
  }

  /** A path for Spark's loaders, whose paths are Hadoop globs: the glob characters escaped. */
  static String escapeGlob(String path) {
    return path.replaceAll("([\\\\{}\\[\\]*?])", "\\\\$1");
  }

  /** Parses each {@code (path, content)} row of the binaryFile source. */
  private record ParseFiles(Map<String, SourceFile> byPath, double testFraction)
      implements FlatMapFunction<Row, Row> {
    @Override
    public Iterator<Row> call(Row file) {
      String path = Path.of(URI.create(file.getString(0))).toAbsolutePath().normalize().toString();
      SourceFile source = byPath.get(path);
      if (source == null) {
        throw new IllegalStateException("Spark read a file that was not asked for: " + path);
      }
      List<Row> rows = new ArrayList<>();
      RawParser.parseFile(source, (byte[]) file.get(1), testFraction, p -> rows.add(p.toRow()));
      return rows.iterator();
    }
  }

  /** Parses each {@code (json, row)} row of one Parquet file. */
  private record ParseRows(SourceFile source, double testFraction)
      implements FlatMapFunction<Row, Row> {
    @Override
    public Iterator<Row> call(Row row) {
      List<Row> rows = new ArrayList<>(1);
      long index = row.getLong(1);
      RawParser.parseUnit(
          source, row.getString(0), "row " + index, index, testFraction, p -> rows.add(p.toRow()));
      return rows.iterator();
    }
  }
}
