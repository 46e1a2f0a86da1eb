package org.meft.datasets.prepare;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.sum;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.meft.datasets.Datasets;
import org.meft.datasets.Split;

/**
 * The accounts of one run, counted by Spark from what was written (the shards read back, the
 * rejections) and from what was read, and rendered as {@code _manifest.json}. The manifest holds no
 * time, host or output path: the same inputs and options give the same manifest, but for the
 * shards' sizes and checksums, which can differ between JVMs because parquet-mr lists a column's
 * encodings in hash order.
 */
final class Manifest {
  static final String FORMAT = "meft-prepared/1";
  static final String UNASSIGNED = "-";

  /** Counts of one shard file. */
  record Shard(
      String dataset, String split, String file, long records, long tokens, long truncated) {}

  /** Counts of one source file: every unit is a record or a rejection. */
  record Source(SourceFile file, long units, long records, long rejected) {}

  private final List<Shard> shards;
  private final List<Source> sources;
  private final Map<List<String>, Long> rejectedBySplit;
  private final Map<String, Map<String, Long>> rejectedByReason;
  private final Map<String, Long> targetTokens;

  private Manifest(
      List<Shard> shards,
      List<Source> sources,
      Map<List<String>, Long> rejectedBySplit,
      Map<String, Map<String, Long>> rejectedByReason,
      Map<String, Long> targetTokens) {
    this.shards = shards;
    this.sources = sources;
    this.rejectedBySplit = rejectedBySplit;
    this.rejectedByReason = rejectedByReason;
    this.targetTokens = targetTokens;
  }

  /**
   * Counts the shards under {@code dir} and the {@code rejected} rows, and checks that each
   * source's {@code units} (read, by path) are its records plus its rejections; {@code
   * targetTokens} are the loss-masked tokens by {@code dataset/split}, counted before writing.
   *
   * @throws IllegalStateException when they are not (a bug, never bad input)
   */
  static Manifest collect(
      SparkSession spark,
      Path dir,
      List<SourceFile> sourceFiles,
      Map<String, Long> units,
      Dataset<Row> rejected,
      Map<String, Long> targetTokens) {
    Map<String, long[]> byFile = new TreeMap<>();
    Map<String, Long> records = new HashMap<>();
    for (Row row :
        spark
            .read()
            .parquet(dir.toString())
            .groupBy(col("dataset"), col("split"), col("_metadata.file_path"), col("source_file"))
            .agg(count(lit(1)), sum("length"), sum(col("truncated").cast("long")))
            .collectAsList()) {
      String file = dir.relativize(Path.of(URI.create(row.getString(2)))).toString();
      long[] counts = byFile.computeIfAbsent(file, unused -> new long[3]);
      counts[0] += row.getLong(4);
      counts[1] += row.getLong(5);
      counts[2] += row.getLong(6);
      records.merge(row.getString(3), row.getLong(4), Long::sum);
    }
    List<Shard> shards = new ArrayList<>();
    byFile.forEach(
        (file, counts) -> {
          String[] parts = file.split("/");
          shards.add(
              new Shard(
                  parts[0].substring("dataset=".length()),
                  parts[1].substring("split=".length()),
                  file,
                  counts[0],
                  counts[1],
                  counts[2]));
        });
    shards.sort(Comparator.comparing(Shard::file));

    Map<String, Long> rejections = new HashMap<>();
    Map<List<String>, Long> bySplit = new HashMap<>();
    Map<String, Map<String, Long>> byReason = new TreeMap<>(byDatasetOrder());
    for (Row row :
        rejected
            .groupBy("dataset", "split", "reason_code", "source_file")
            .count()
            .collectAsList()) {
      String split = row.isNullAt(1) ? UNASSIGNED : row.getString(1);
      long n = row.getLong(4);
      bySplit.merge(List.of(row.getString(0), split), n, Long::sum);
      byReason
          .computeIfAbsent(row.getString(0), unused -> new TreeMap<>())
          .merge(row.getString(2), n, Long::sum);
      rejections.merge(row.getString(3), n, Long::sum);
    }

    List<Source> sources = new ArrayList<>();
    for (SourceFile file : sourceFiles) {
      Source source =
          new Source(
              file,
              units.getOrDefault(file.path(), 0L),
              records.getOrDefault(file.path(), 0L),
              rejections.getOrDefault(file.path(), 0L));
      if (source.units() != source.records() + source.rejected()) {
        throw new IllegalStateException(
            file.path()
                + ": "
                + source.units()
                + " units read but "
                + source.records()
                + " written and "
                + source.rejected()
                + " rejected");
      }
      sources.add(source);
    }
    return new Manifest(shards, sources, bySplit, byReason, Map.copyOf(targetTokens));
  }

  /** One line per dataset and split that has records or rejections, in table order. */
  List<PrepareResult.SplitSummary> summaries() {
    Map<List<String>, long[]> lines = new TreeMap<>(byDatasetThenSplit());
    for (Shard shard : shards) {
      long[] line =
          lines.computeIfAbsent(List.of(shard.dataset(), shard.split()), k -> new long[4]);
      line[0] += shard.records();
      line[2] += shard.tokens();
      line[3] += shard.truncated();
    }
    rejectedBySplit.forEach((key, n) -> lines.computeIfAbsent(key, k -> new long[4])[1] += n);
    List<PrepareResult.SplitSummary> summaries = new ArrayList<>();
    lines.forEach(
        (key, line) ->
            summaries.add(
                new PrepareResult.SplitSummary(
                    key.get(0), key.get(1), line[0], line[1], line[2], line[3])));
    return summaries;
  }

  /** The manifest's JSON. */
  JsonObject toJson(PrepareConfig config, String tokenizerPath, Path dir, String rejectedFile) {
    JsonObject json = new JsonObject();
    json.addProperty("format", FORMAT);
    JsonArray datasets = new JsonArray();
    config.datasets().forEach(datasets::add);
    json.add("datasets", datasets);
    JsonObject options = new JsonObject();
    options.addProperty("max_length", config.maxLength());
    options.addProperty("shards", config.shards());
    options.addProperty("test_fraction", config.testFraction());
    options.addProperty("closed_book", config.closedBook());
    options.addProperty("bos_token", PrepareJob.BOS);
    options.addProperty("eos_token", PrepareJob.EOS);
    json.add("options", options);
    JsonObject tokenizer = new JsonObject();
    Path tokenizerFile = TokenizerCache.get(tokenizerPath).file();
    tokenizer.addProperty("path", tokenizerFile.toString());
    tokenizer.addProperty("bytes", size(tokenizerFile));
    tokenizer.addProperty("sha256", SourceFiles.sha256(tokenizerFile));
    json.add("tokenizer", tokenizer);

    JsonArray splits = new JsonArray();
    long[] totals = new long[4];
    for (PrepareResult.SplitSummary summary : summaries()) {
      JsonObject split = new JsonObject();
      split.addProperty("dataset", summary.dataset());
      split.addProperty("split", summary.split());
      split.addProperty("records", summary.records());
      split.addProperty("rejected", summary.rejected());
      split.addProperty("tokens", summary.tokens());
      JsonArray files = new JsonArray();
      for (Shard shard : shards) {
        if (shard.dataset().equals(summary.dataset()) && shard.split().equals(summary.split())) {
          JsonObject file = new JsonObject();
          file.addProperty("path", shard.file());
          file.addProperty("records", shard.records());
          file.addProperty("tokens", shard.tokens());
          file.addProperty("bytes", size(dir.resolve(shard.file())));
          file.addProperty("sha256", SourceFiles.sha256(dir.resolve(shard.file())));
          files.add(file);
        }
      }
      split.addProperty(
          "target_tokens",
          targetTokens.getOrDefault(summary.dataset() + "/" + summary.split(), 0L));
      split.addProperty("truncated", summary.truncated());
      split.add("files", files);
      splits.add(split);
      totals[0] += summary.records();
      totals[1] += summary.rejected();
      totals[2] += summary.tokens();
      totals[3] += summary.truncated();
    }
    json.add("splits", splits);

    JsonObject rejected = new JsonObject();
    rejected.addProperty("file", rejectedFile);
    rejected.addProperty("records", totals[1]);
    JsonObject byReason = new JsonObject();
    rejectedByReason.forEach(
        (dataset, reasons) -> {
          JsonObject counts = new JsonObject();
          reasons.forEach(counts::addProperty);
          byReason.add(dataset, counts);
        });
    rejected.add("by_reason", byReason);
    json.add("rejected", rejected);

    JsonArray sourceList = new JsonArray();
    long units = 0;
    for (Source source : sources) {
      JsonObject object = new JsonObject();
      object.addProperty("dataset", source.file().dataset());
      object.addProperty("path", source.file().path());
      object.addProperty("type", source.file().type().name().toLowerCase(Locale.ROOT));
      object.addProperty("bytes", source.file().size());
      object.addProperty("sha256", source.file().sha256());
      object.addProperty("split", source.file().role().name().toLowerCase(Locale.ROOT));
      object.addProperty("units", source.units());
      object.addProperty("records", source.records());
      object.addProperty("rejected", source.rejected());
      sourceList.add(object);
      units += source.units();
    }
    json.add("sources", sourceList);

    JsonObject total = new JsonObject();
    total.addProperty("units", units);
    total.addProperty("records", totals[0]);
    total.addProperty("rejected", totals[1]);
    total.addProperty("tokens", totals[2]);
    total.addProperty("truncated", totals[3]);
    json.add("totals", total);
    return json;
  }

  private static Comparator<String> byDatasetOrder() {
    return Comparator.comparingInt(Datasets::order);
  }

  private static Comparator<List<String>> byDatasetThenSplit() {
    return Comparator.<List<String>>comparingInt(key -> Datasets.order(key.get(0)))
        .thenComparingInt(key -> splitOrder(key.get(1)));
  }

  private static int splitOrder(String split) {
    for (Split value : Split.values()) {
      if (value.label().equals(split)) {
        return value.ordinal();
      }
    }
    return Split.values().length;
  }

  private static long size(Path path) {
    try {
      return Files.size(path);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
