package org.meft.datasets.prepare;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.io.InputFile;
import org.meft.datasets.Split;

/**
 * Reads prepared shards back without Spark, inside a task: the files of one dataset's split (in
 * shard order, each sorted by id, so the rows come in the same order on every machine) and their
 * rows as {@link PreparedRecord}s. The layout is {@link PrepareJob}'s.
 */
public final class PreparedShards {
  private PreparedShards() {}

  /**
   * The shard files of {@code dataset}'s {@code split} under the prepared folder, in shard order.
   *
   * @throws IllegalArgumentException when the folder is not a prepared output or has no such split
   */
  public static List<Path> files(Path prepared, String dataset, Split split) {
    if (!Files.isRegularFile(prepared.resolve(OutputDirectory.MANIFEST))) {
      throw new IllegalArgumentException(
          prepared
              + " is not a prepared dataset folder (no "
              + OutputDirectory.MANIFEST
              + "): run bin/meft prepare first");
    }
    Path folder = prepared.resolve("dataset=" + dataset).resolve("split=" + split.label());
    List<Path> files = new ArrayList<>();
    if (Files.isDirectory(folder)) {
      try (Stream<Path> listing = Files.list(folder)) {
        listing
            .filter(p -> p.getFileName().toString().endsWith(".parquet"))
            .sorted()
            .forEach(files::add);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    if (files.isEmpty()) {
      throw new IllegalArgumentException(
          prepared + " has no " + split.label() + " shards for dataset '" + dataset + "'");
    }
    return files;
  }

  /**
   * Checks that the prepared folder was tokenized with {@code tokenizerJson} (the same bytes, by
   * SHA-256): token ids mean nothing to a model with another vocabulary.
   *
   * @throws IllegalArgumentException naming both tokenizers when they differ
   */
  public static void checkTokenizer(Path prepared, Path tokenizerJson) {
    Path manifest = prepared.resolve(OutputDirectory.MANIFEST);
    JsonObject tokenizer;
    try {
      tokenizer =
          JsonParser.parseString(Files.readString(manifest, StandardCharsets.UTF_8))
              .getAsJsonObject()
              .getAsJsonObject("tokenizer");
    } catch (IOException e) {
      throw new IllegalArgumentException(manifest + ": cannot read: " + e.getMessage());
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(manifest + ": no tokenizer object: " + e.getMessage());
    }
    if (!Files.isRegularFile(tokenizerJson)) {
      throw new IllegalArgumentException(tokenizerJson + ": tokenizer not found");
    }
    String expected = tokenizer.get("sha256").getAsString();
    String actual = SourceFiles.sha256(tokenizerJson);
    if (!expected.equals(actual)) {
      throw new IllegalArgumentException(
          prepared
              + " was tokenized with "
              + tokenizer.get("path").getAsString()
              + " (SHA-256 "
              + expected.substring(0, 12)
              + "...), but the model uses "
              + tokenizerJson
              + " ("
              + actual.substring(0, 12)
              + "...): prepare the data again with --tokenizer "
              + tokenizerJson);
    }
  }

  /** The number of rows in one shard, from its footer. */
  public static long rowCount(Path file) {
    try (ParquetFileReader reader = ParquetFileReader.open(input(file))) {
      return reader.getRecordCount();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the Parquet footer of " + file, e);
    }
  }

  /** Up to {@code limit} rows (all when {@code limit <= 0}) of the files, in order. */
  public static List<PreparedRecord> read(List<Path> files, int limit) {
    List<PreparedRecord> records = new ArrayList<>();
    for (Path file : files) {
      int wanted = limit <= 0 ? Integer.MAX_VALUE : limit - records.size();
      if (wanted <= 0) {
        break;
      }
      records.addAll(read(file, 0, wanted));
    }
    return records;
  }

  /** The rows {@code [offset, offset + count)} of one shard (fewer at its end). */
  public static List<PreparedRecord> read(Path file, long offset, int count) {
    List<PreparedRecord> records = new ArrayList<>();
    try (ParquetReader<Group> reader =
        ParquetReader.builder(new GroupReadSupport(), hadoopPath(file))
            .withConf(new Configuration())
            .build()) {
      long row = 0;
      Group group;
      while (records.size() < count && (group = reader.read()) != null) {
        if (row++ >= offset) {
          records.add(record(group, file, row - 1));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
    return records;
  }

  private static PreparedRecord record(Group group, Path file, long row) {
    try {
      List<Group> referenceItems = elements(group, "references");
      List<String> references = new ArrayList<>(referenceItems.size());
      referenceItems.forEach(item -> references.add(item.getString("element", 0)));
      List<Group> idItems = elements(group, "input_ids");
      int[] ids = new int[idItems.size()];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = idItems.get(i).getInteger("element", 0);
      }
      List<Group> maskItems = elements(group, "loss_mask");
      byte[] mask = new byte[maskItems.size()];
      for (int i = 0; i < mask.length; i++) {
        mask[i] = (byte) maskItems.get(i).getInteger("element", 0);
      }
      return new PreparedRecord(group.getString("id", 0), references, ids, mask);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          file + " row " + row + ": not a prepared record (" + e.getMessage() + ")", e);
    }
  }

  /**
   * The items of a Spark list column, {@code optional group NAME (LIST) { repeated group list {
   * optional T element; } }}; empty for a null or empty list.
   */
  private static List<Group> elements(Group group, String field) {
    if (group.getFieldRepetitionCount(field) == 0) {
      return List.of();
    }
    Group list = group.getGroup(field, 0);
    int n = list.getFieldRepetitionCount("list");
    List<Group> items = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      items.add(list.getGroup("list", i));
    }
    return items;
  }

  private static InputFile input(Path file) throws IOException {
    return HadoopInputFile.fromPath(hadoopPath(file), new Configuration());
  }

  private static org.apache.hadoop.fs.Path hadoopPath(Path file) {
    return new org.apache.hadoop.fs.Path(file.toAbsolutePath().toUri());
  }
}
