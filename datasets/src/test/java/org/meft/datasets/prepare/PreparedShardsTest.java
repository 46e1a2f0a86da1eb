package org.meft.datasets.prepare;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.datasets.Split;
import org.meft.datasets.testing.Fixtures;
import org.meft.datasets.testing.LocalSpark;
import org.meft.model.LlamaConfig;
import org.meft.tokenizer.SequenceLayout;
import org.meft.tokenizer.TextTokenizer;
import org.meft.train.TrainingExample;

/** Prepared shards read back without Spark agree with Spark's own reading of the same files. */
class PreparedShardsTest {
  /** The layout of the test tokenizer's LLaMA: BOS 1, EOS 2. */
  private static final SequenceLayout LLAMA = new SequenceLayout(1, 2);

  @TempDir static Path dir;
  static SparkSession spark;
  static Path prepared;

  @BeforeAll
  static void prepare() {
    spark = LocalSpark.session(2);
    prepared = dir.resolve("prepared");
    PrepareJob.run(
        spark,
        new PrepareConfig(
            List.of(Fixtures.copy(dir.resolve("fixtures"))),
            List.of("nq", "squad", "gsm8k", "toolbench"),
            Fixtures.tokenizer(dir),
            prepared,
            512,
            2,
            0.5,
            false));
  }

  @Test
  void rowsMatchSparksReading() {
    for (String dataset : List.of("nq", "squad", "gsm8k", "toolbench")) {
      for (Split split : Split.values()) {
        List<Path> files = PreparedShards.files(prepared, dataset, split);
        List<PreparedRecord> records = PreparedShards.read(files, 0);
        // Spark orders a multi-file scan by size: read the files one by one, in shard order.
        List<Row> rows = new ArrayList<>();
        for (Path file : files) {
          rows.addAll(
              spark
                  .read()
                  .parquet(file.toString())
                  .select("id", "references", "input_ids", "loss_mask")
                  .collectAsList());
        }
        assertEquals(rows.size(), records.size(), dataset + "/" + split);
        assertEquals(
            rows.size(), files.stream().mapToLong(PreparedShards::rowCount).sum(), "footer count");
        for (int i = 0; i < rows.size(); i++) {
          Row row = rows.get(i);
          PreparedRecord record = records.get(i);
          assertEquals(row.getString(0), record.id());
          assertEquals(row.getList(1), record.references());
          List<Integer> ids = row.getList(2);
          assertArrayEquals(ids.stream().mapToInt(Integer::intValue).toArray(), record.inputIds());
          List<Byte> mask = row.getList(3);
          byte[] expected = new byte[mask.size()];
          for (int j = 0; j < expected.length; j++) {
            expected[j] = mask.get(j);
          }
          assertArrayEquals(expected, record.lossMask());
          assertTrue(record.promptLength() >= 1 && record.promptLength() < ids.size());
          assertEquals(record.promptLength(), record.promptIds(LLAMA, Integer.MAX_VALUE).length);
        }
      }
    }
  }

  @Test
  void trainingSequencesAreWhatTheTrainerTokenizesFromText() {
    LlamaConfig config = LlamaConfig.of(32, 64, 1, 4, 2, 512, 512);
    try (TextTokenizer tokenizer = TextTokenizer.open(Fixtures.tokenizer(dir))) {
      for (String dataset : List.of("nq", "squad", "gsm8k", "toolbench")) {
        Path file = PreparedShards.files(prepared, dataset, Split.TRAIN).get(0);
        List<PreparedRecord> records = PreparedShards.read(file, 0, Integer.MAX_VALUE);
        List<Row> texts =
            spark.read().parquet(file.toString()).select("prompt", "target").collectAsList();
        for (int i = 0; i < records.size(); i++) {
          for (int maxLength : new int[] {512, 40}) {
            TrainingExample expected;
            try {
              expected =
                  TrainingExample.of(
                      texts.get(i).getString(0),
                      texts.get(i).getString(1),
                      tokenizer,
                      config,
                      maxLength);
            } catch (IllegalArgumentException tooLong) {
              assertTrue(records.get(i).toTrainingExample(LLAMA, maxLength).isEmpty());
              continue;
            }
            TrainingExample actual =
                records.get(i).toTrainingExample(LLAMA, maxLength).orElseThrow();
            assertArrayEquals(expected.tokens(), actual.tokens(), dataset + " " + maxLength);
            assertArrayEquals(expected.lossMask(), actual.lossMask(), dataset + " " + maxLength);
          }
        }
      }
    }
  }

  @Test
  void promptTokensGoFirstWhenASequenceIsCut() {
    PreparedRecord record =
        new PreparedRecord(
            "r",
            List.of("x"),
            new int[] {1, 10, 11, 12, 20, 21, 2},
            new byte[] {0, 0, 0, 0, 1, 1, 1});
    TrainingExample cut = record.toTrainingExample(LLAMA, 5).orElseThrow();
    assertArrayEquals(new long[] {1, 12, 20, 21, 2}, cut.tokens());
    assertArrayEquals(new boolean[] {false, false, true, true, true}, cut.lossMask());
    assertEquals(7, record.toTrainingExample(LLAMA, 7).orElseThrow().tokens().length);
    assertTrue(record.toTrainingExample(LLAMA, 3).isEmpty(), "BOS + target + EOS need 4");
    assertArrayEquals(new long[] {1, 10, 11, 12}, record.promptIds(LLAMA, Integer.MAX_VALUE));
    assertArrayEquals(new long[] {1, 11, 12}, record.promptIds(LLAMA, 3));
    assertArrayEquals(new long[] {1}, record.promptIds(LLAMA, 0));
  }

  @Test
  void aRecordWithoutBosIsCutInItsPromptNotAfterItsFirstToken() {
    SequenceLayout noBos = new SequenceLayout(SequenceLayout.NONE, 2);
    PreparedRecord record =
        new PreparedRecord(
            "r", List.of("x"), new int[] {10, 11, 12, 20, 21, 2}, new byte[] {0, 0, 0, 1, 1, 1});
    assertArrayEquals(
        new long[] {12, 20, 21, 2}, record.toTrainingExample(noBos, 4).orElseThrow().tokens());
    assertTrue(record.toTrainingExample(noBos, 3).isPresent(), "target + EOS need 3");
    assertArrayEquals(new long[] {11, 12}, record.promptIds(noBos, 2));
    IllegalArgumentException other =
        assertThrows(IllegalArgumentException.class, () -> record.toTrainingExample(LLAMA, 8));
    assertTrue(other.getMessage().startsWith("record r: "), other.getMessage());
    assertTrue(other.getMessage().contains("prepare the data again"), other.getMessage());
  }

  @Test
  void limitsAndSlices() {
    List<Path> files = PreparedShards.files(prepared, "squad", Split.TEST);
    List<PreparedRecord> all = PreparedShards.read(files, 0);
    assertEquals(2, PreparedShards.read(files, 2).size());
    assertEquals(all.get(0).id(), PreparedShards.read(files, 2).get(0).id());
    List<PreparedRecord> slice = PreparedShards.read(files.get(0), 1, 5);
    assertEquals(PreparedShards.rowCount(files.get(0)) - 1, slice.size());
    assertEquals(all.get(1).id(), slice.get(0).id());
  }

  @Test
  void missingDataIsAClearError() {
    IllegalArgumentException notPrepared =
        assertThrows(
            IllegalArgumentException.class,
            () -> PreparedShards.files(dir.resolve("fixtures"), "nq", Split.TRAIN));
    assertTrue(notPrepared.getMessage().contains("not a prepared dataset"));
    IllegalArgumentException noSplit =
        assertThrows(
            IllegalArgumentException.class,
            () -> PreparedShards.files(prepared, "nosuch", Split.TRAIN));
    assertTrue(noSplit.getMessage().contains("no train shards for dataset 'nosuch'"));
  }
}
