package org.meft.datasets.prepare;

import static org.apache.spark.sql.functions.broadcast;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.floor;
import static org.apache.spark.sql.functions.row_number;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Writes prepared rows as Parquet shards, {@code DIR/dataset=D/split=S/part-0000k-of-0000n.parquet}
 * (Hive partitioning: Spark, pyarrow and pandas read the dataset and split back as columns).
 *
 * <p>A split of {@code r} records gets {@code n = min(shards, r)} shards; ordered by id, the record
 * of rank {@code i} (from 0) goes to shard {@code floor(i n / r)}, so shards are contiguous ranges
 * of ids, never empty, and their sizes differ by at most one. Each shard is sorted by id. The files
 * therefore hold the same rows in the same order whatever the parallelism or the order of the
 * inputs. Spark writes each shard to its own {@code shard=k} folder (one file per folder, however
 * tasks share the shards); the files are then renamed into the split's folder.
 */
final class ShardWriter {
  // Ranks of up to this many records are broadcast to the rows instead of shuffling the rows.
  private static final long BROADCAST_RECORDS = 2_000_000;

  private ShardWriter() {}

  /**
   * Writes {@code rows} (with {@code dataset}, {@code split} and unique {@code id} columns) to
   * {@code dir}; {@code counts} are the records of each {@code dataset/split}.
   */
  static void write(Dataset<Row> rows, Map<String, Long> counts, int shards, Path dir) {
    List<Row> plan = new ArrayList<>();
    counts.forEach(
        (split, records) -> {
          String[] key = split.split("/");
          plan.add(RowFactory.create(key[0], key[1], records, Math.min(shards, records)));
        });
    StructType planSchema =
        new StructType()
            .add("dataset", DataTypes.StringType)
            .add("split", DataTypes.StringType)
            .add("_records", DataTypes.LongType)
            .add("_shards", DataTypes.LongType);
    Dataset<Row> placed =
        rows.select("dataset", "split", "id")
            .withColumn(
                "_rank", row_number().over(Window.partitionBy("dataset", "split").orderBy("id")))
            .join(
                broadcast(rows.sparkSession().createDataFrame(plan, planSchema)),
                new String[] {"dataset", "split"})
            .select(
                col("dataset"),
                col("split"),
                col("id"),
                floor(col("_rank").minus(1).multiply(col("_shards")).divide(col("_records")))
                    .cast("int")
                    .as("shard"));
    long total = counts.values().stream().mapToLong(Long::longValue).sum();
    rows.join(
            total <= BROADCAST_RECORDS ? broadcast(placed) : placed,
            new String[] {"dataset", "split", "id"})
        .repartition(col("dataset"), col("split"), col("shard"))
        .sortWithinPartitions("dataset", "split", "shard", "id")
        .write()
        .partitionBy("dataset", "split", "shard")
        .parquet(dir.toString());
    counts.forEach(
        (split, records) -> {
          String[] key = split.split("/");
          Path folder = dir.resolve("dataset=" + key[0]).resolve("split=" + key[1]);
          int n = (int) Math.min(shards, records);
          for (int shard = 0; shard < n; shard++) {
            Path shardFolder = folder.resolve("shard=" + shard);
            List<Path> files = parquetFiles(shardFolder);
            if (files.size() != 1) {
              throw new IllegalStateException(
                  "expected one Parquet file in " + shardFolder + ", found " + files);
            }
            move(files.get(0), folder.resolve(shardName(shard, n)));
            OutputDirectory.delete(shardFolder);
          }
        });
  }

  /** {@code part-00001-of-00004.parquet}. */
  static String shardName(int shard, int shards) {
    return String.format(Locale.ROOT, "part-%05d-of-%05d.parquet", shard, shards);
  }

  private static List<Path> parquetFiles(Path folder) {
    if (!Files.isDirectory(folder)) {
      return List.of();
    }
    try (Stream<Path> files = Files.list(folder)) {
      return files.filter(p -> p.getFileName().toString().endsWith(".parquet")).toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void move(Path from, Path to) {
    try {
      Files.move(from, to);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
