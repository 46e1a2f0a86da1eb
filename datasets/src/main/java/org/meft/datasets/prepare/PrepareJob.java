package org.meft.datasets.prepare;

import static org.apache.spark.sql.functions.broadcast;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.concat;
import static org.apache.spark.sql.functions.concat_ws;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.expr;
import static org.apache.spark.sql.functions.first;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.row_number;
import static org.apache.spark.sql.functions.substring;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.when;

import com.google.gson.GsonBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.expressions.WindowSpec;
import org.apache.spark.storage.StorageLevel;
import org.meft.datasets.RejectReason;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The preparation job: raw NQ-open, SQuAD, GSM8K and ToolBench files to tokenized Parquet shards,
 * every stage a Spark job on the given session.
 *
 * <ol>
 *   <li>Read and validate ({@link RawReader}): one row per raw unit, a record or a rejection.
 *   <li>Drop duplicate ids within a dataset (the first by source file and position stays; the
 *       others are rejected) and tokenize ({@link TokenizeTransformer}); a target too long for the
 *       maximum length is rejected.
 *   <li>Write ({@link ShardWriter}) and account: the shards, {@code _rejected/rejected.jsonl} and
 *       {@code _manifest.json}, all in a temporary directory renamed into place at the end ({@link
 *       OutputDirectory}).
 * </ol>
 *
 * <p>Output layout:
 *
 * <pre>
 * OUTPUT/dataset=D/split=S/part-0000k-of-0000n.parquet
 *     id, prompt, target, references array&lt;string&gt;, extras map&lt;string,string&gt;,
 *     input_ids array&lt;int&gt;, loss_mask array&lt;tinyint&gt;, length int, truncated boolean,
 *     source_file, position
 * OUTPUT/_rejected/rejected.jsonl
 *     {dataset, split?, source_file, position, ordinal, reason_code, reason, id?, raw?} per line
 * OUTPUT/_manifest.json
 *     options, tokenizer, per split: records, tokens, target_tokens, truncated, rejected, files;
 *     rejections by reason; per source file: size, SHA-256, units = records + rejected
 * </pre>
 *
 * <p>Every unit read is either written or rejected; the job checks this per source file before
 * publishing. It fails (nothing is written) only when an input is missing or nothing valid is left.
 * The output is a function of the inputs and options alone: runs on any number of cores write the
 * same files.
 */
public final class PrepareJob {
  /** Tokens around every sequence: LLaMA's. */
  public static final String BOS = "<s>";

  public static final String EOS = "</s>";

  static final String REJECTED = "_rejected";
  static final String REJECTED_FILE = "rejected.jsonl";
  private static final List<String> RECORD_COLUMNS =
      List.of(
          "dataset",
          "split",
          "id",
          "prompt",
          "target",
          "references",
          "extras",
          "source_file",
          "position",
          "ordinal");
  private static final List<String> OUTPUT_COLUMNS =
      List.of(
          "dataset",
          "split",
          "id",
          "prompt",
          "target",
          "references",
          "extras",
          "input_ids",
          "loss_mask",
          "length",
          "truncated",
          "source_file",
          "position");
  private static final List<String> REJECTED_COLUMNS =
      List.of(
          "dataset",
          "split",
          "source_file",
          "position",
          "ordinal",
          "reason_code",
          "reason",
          "id",
          "raw");

  private static final Logger LOG = LoggerFactory.getLogger(PrepareJob.class);

  private PrepareJob() {}

  /**
   * Checks, without Spark, what can be checked before running: the output policy, the tokenizer and
   * its BOS and EOS, and the inputs; returns the source files.
   *
   * @throws IllegalArgumentException naming what is wrong
   */
  public static List<SourceFile> check(PrepareConfig config) {
    OutputDirectory.check(config.output().toAbsolutePath().normalize(), config.overwrite());
    TokenizerCache.Entry tokenizer =
        TokenizerCache.get(config.tokenizer().toAbsolutePath().normalize().toString());
    tokenizer.idOf(BOS);
    tokenizer.idOf(EOS);
    return SourceFiles.resolve(config.inputs(), config.datasets()).stream()
        .map(source -> source.withClosedBook(config.closedBook()))
        .toList();
  }

  /**
   * Prepares {@code config} with {@code spark}.
   *
   * @throws IllegalArgumentException when an input or the tokenizer is missing or unusable, the
   *     output exists (without overwrite), or nothing valid is left; nothing is written then
   */
  public static PrepareResult run(SparkSession spark, PrepareConfig config) {
    long start = System.nanoTime();
    List<SourceFile> sources = check(config);
    Path output = config.output().toAbsolutePath().normalize();
    String tokenizerPath = config.tokenizer().toAbsolutePath().normalize().toString();
    Path temporary = OutputDirectory.temporary(output);
    List<Dataset<Row>> cached = new ArrayList<>();
    try {
      // Read and validate.
      Dataset<Row> parsed =
          RawReader.read(spark, sources, config.testFraction())
              .persist(StorageLevel.MEMORY_AND_DISK());
      cached.add(parsed);
      Map<String, Long> units = new HashMap<>();
      for (Row row : parsed.groupBy("source_file").count().collectAsList()) {
        units.put(row.getString(0), row.getLong(1));
      }
      long read = System.nanoTime();

      // Deduplicate and tokenize.
      Dataset<Row> valid = parsed.filter(col("reason_code").isNull());
      Dataset<Row> duplicates = duplicates(valid);
      Dataset<Row> unique =
          valid
              .join(
                  broadcast(duplicates.select("source_file", "ordinal")),
                  new String[] {"source_file", "ordinal"},
                  "left_anti")
              .select(columns(RECORD_COLUMNS));
      // The largest file is parsed by one task: spread the rows before the costly stage.
      int partitions = Math.max(2, spark.sparkContext().defaultParallelism() * 4);
      Dataset<Row> tokenized =
          new TokenizeTransformer()
              .setTokenizerPath(tokenizerPath)
              .setMaxLength(config.maxLength())
              .setBosToken(BOS)
              .setEosToken(EOS)
              .setHandleInvalid("keep")
              .transform(unique.repartition(partitions))
              .persist(StorageLevel.MEMORY_AND_DISK());
      cached.add(tokenized);
      Map<String, Long> records = new TreeMap<>();
      Map<String, Long> targetTokens = new TreeMap<>();
      long tokenizedCount = 0;
      for (Row row :
          tokenized
              .groupBy("dataset", "split")
              .agg(
                  count(lit(1)),
                  sum(when(col("input_ids").isNotNull(), 1).otherwise(0)),
                  sum(expr("aggregate(loss_mask, 0L, (total, x) -> total + x)")))
              .collectAsList()) {
        tokenizedCount += row.getLong(2);
        if (row.getLong(3) > 0) {
          records.put(row.getString(0) + "/" + row.getString(1), row.getLong(3));
          targetTokens.put(row.getString(0) + "/" + row.getString(1), row.getLong(4));
        }
      }
      long tokenize = System.nanoTime();

      // Write and account.
      Dataset<Row> rejected = rejections(parsed, duplicates, tokenized, config.maxLength());
      if (records.isEmpty()) {
        throw new IllegalArgumentException(nothingValid(rejected));
      }
      ShardWriter.write(
          tokenized.filter(col("input_ids").isNotNull()).select(columns(OUTPUT_COLUMNS)),
          records,
          config.shards(),
          temporary);
      LOG.info("shards written in {} s", seconds(tokenize, System.nanoTime()));
      writeRejected(rejected, temporary.resolve(REJECTED));
      tidy(temporary);
      Manifest manifest =
          Manifest.collect(spark, temporary, sources, units, rejected, targetTokens);
      Files.writeString(
          temporary.resolve(OutputDirectory.MANIFEST),
          new GsonBuilder()
                  .setPrettyPrinting()
                  .disableHtmlEscaping()
                  .create()
                  .toJson(
                      manifest.toJson(
                          config, tokenizerPath, temporary, REJECTED + "/" + REJECTED_FILE))
              + "\n",
          StandardCharsets.UTF_8);
      OutputDirectory.publish(temporary, output, config.overwrite());
      long end = System.nanoTime();
      LOG.info("rejections and manifest written in {} s", seconds(tokenize, end));
      return new PrepareResult(
          output,
          manifest.summaries(),
          units.values().stream().mapToLong(Long::longValue).sum(),
          new PrepareResult.Timings(
              seconds(start, read),
              seconds(read, tokenize),
              tokenizedCount,
              seconds(tokenize, end),
              seconds(start, end)));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } finally {
      cached.forEach(Dataset::unpersist);
      OutputDirectory.delete(temporary);
    }
  }

  /**
   * The valid rows whose id an earlier row of the same dataset has (by source file, then ordinal),
   * as rejections naming the row kept. Found on the ids alone: duplicates are rare.
   */
  private static Dataset<Row> duplicates(Dataset<Row> valid) {
    WindowSpec byId = Window.partitionBy("dataset", "id").orderBy("source_file", "ordinal");
    return valid
        .select("dataset", "split", "id", "source_file", "position", "ordinal")
        .withColumn("_rank", row_number().over(byId))
        .withColumn("_first", first(concat_ws(" ", col("source_file"), col("position"))).over(byId))
        .filter(col("_rank").gt(1))
        .withColumn("reason_code", lit(RejectReason.DUPLICATE_ID.code()))
        .withColumn(
            "reason",
            concat(lit("duplicate id '"), col("id"), lit("' (kept: "), col("_first"), lit(")")))
        .withColumn("raw", lit(null).cast("string"));
  }

  /** Every rejection: invalid units, duplicates, and targets that cannot fit. */
  private static Dataset<Row> rejections(
      Dataset<Row> parsed, Dataset<Row> duplicates, Dataset<Row> tokenized, int maxLength) {
    Dataset<Row> tooLong =
        tokenized
            .filter(col("input_ids").isNull())
            .withColumn("reason_code", lit(RejectReason.TARGET_TOO_LONG.code()))
            .withColumn(
                "reason",
                concat(
                    lit("the target needs "),
                    col("length").cast("string"),
                    lit(" tokens with BOS and EOS, more than the maximum length " + maxLength)))
            .withColumn("raw", substring(col("target"), 1, Parsed.RAW_CHARS));
    return parsed
        .filter(col("reason_code").isNotNull())
        .select(columns(REJECTED_COLUMNS))
        .unionByName(duplicates.select(columns(REJECTED_COLUMNS)))
        .unionByName(tooLong.select(columns(REJECTED_COLUMNS)));
  }

  /** One JSON Lines file of rejections, by dataset, source file and position. */
  private static void writeRejected(Dataset<Row> rejected, Path dir) throws IOException {
    rejected
        .repartition(1)
        .sortWithinPartitions("dataset", "source_file", "ordinal", "reason_code")
        .write()
        .json(dir.toString());
    Path file = dir.resolve(REJECTED_FILE);
    try (Stream<Path> files = Files.list(dir)) {
      for (Path part : files.filter(p -> p.getFileName().toString().startsWith("part-")).toList()) {
        Files.move(part, file);
      }
    }
    if (!Files.exists(file)) {
      Files.createFile(file);
    }
  }

  /** Removes Hadoop's checksum files and Spark's success markers: the manifest marks success. */
  private static void tidy(Path dir) throws IOException {
    try (Stream<Path> tree = Files.walk(dir)) {
      for (Path path : tree.filter(Files::isRegularFile).toList()) {
        String name = path.getFileName().toString();
        if (name.equals("_SUCCESS") || (name.startsWith(".") && name.endsWith(".crc"))) {
          Files.delete(path);
        }
      }
    }
  }

  /** The one-line failure when no record survives: the counts by reason and the first one. */
  private static String nothingValid(Dataset<Row> rejected) {
    Map<String, Long> byReason = new TreeMap<>();
    for (Row row : rejected.groupBy("reason_code").count().collectAsList()) {
      byReason.put(row.getString(0), row.getLong(1));
    }
    long total = byReason.values().stream().mapToLong(Long::longValue).sum();
    if (total == 0) {
      return "nothing valid to prepare: the inputs hold no records";
    }
    Row first = rejected.orderBy("source_file", "ordinal").first();
    return "nothing valid to prepare: all "
        + total
        + " records were rejected "
        + byReason
        + "; first: "
        + first.getAs("source_file")
        + " "
        + first.getAs("position")
        + ": "
        + first.getAs("reason");
  }

  private static Column[] columns(List<String> names) {
    return names.stream().map(name -> col(name)).toArray(Column[]::new);
  }

  private static double seconds(long from, long to) {
    return (to - from) / 1e9;
  }
}
