package org.meft.datasets.prepare;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.apache.spark.SparkException;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.datasets.testing.Fixtures;
import org.meft.datasets.testing.LocalSpark;
import org.meft.model.LlamaConfig;
import org.meft.tokenizer.SequenceLayout;
import org.meft.tokenizer.TextTokenizer;
import org.meft.train.TrainingExample;

/**
 * The tokenizing stage as a Spark ML Transformer: its params, persistence, schema, and ids equal to
 * the pipeline's own {@link TextTokenizer} (an independent path through DJL) for every row.
 */
class TokenizeTransformerTest {
  @TempDir static Path dir;
  static SparkSession spark;
  static String tokenizer;

  @BeforeAll
  static void start() {
    spark = LocalSpark.session(2);
    tokenizer = Fixtures.tokenizer(dir).toString();
  }

  @Test
  void paramsHaveDefaultsValidatorsAndDocs() {
    TokenizeTransformer stage = new TokenizeTransformer();
    assertEquals("prompt", stage.getPromptCol());
    assertEquals("target", stage.getTargetCol());
    assertEquals("input_ids", stage.getIdsCol());
    assertEquals("loss_mask", stage.getMaskCol());
    assertEquals(512, stage.getMaxLength());
    assertEquals("<s>", stage.getBosToken());
    assertEquals("error", stage.getHandleInvalid());
    assertFalse(stage.isDefined(stage.tokenizerPath()), "no default tokenizer");
    assertEquals(11, stage.params().length);
    assertTrue(stage.explainParams().contains("maxLength: maximum sequence length"));
    assertThrows(IllegalArgumentException.class, () -> stage.setMaxLength(1));
    assertThrows(IllegalArgumentException.class, () -> stage.setHandleInvalid("ignore"));
    assertThrows(IllegalArgumentException.class, () -> stage.setPromptCol(""));
    assertEquals("", stage.setBosToken("").getBosToken(), "no BOS is allowed");
  }

  @Test
  void copiesAndSavesItsParams() throws Exception {
    TokenizeTransformer stage =
        new TokenizeTransformer().setTokenizerPath(tokenizer).setMaxLength(64).setIdsCol("ids");
    TokenizeTransformer copy = stage.copy(ParamMap.empty().put(stage.maxLength().w(32)));
    assertNotSame(stage, copy);
    assertEquals(stage.uid(), copy.uid());
    assertEquals(32, copy.getMaxLength());
    assertEquals(64, stage.getMaxLength());

    String path = dir.resolve("stage").toString();
    stage.write().overwrite().save(path);
    TokenizeTransformer loaded = TokenizeTransformer.load(path);
    assertEquals(stage.uid(), loaded.uid());
    assertEquals(tokenizer, loaded.getTokenizerPath());
    assertEquals(64, loaded.getMaxLength());
    assertEquals("ids", loaded.getIdsCol());
    assertEquals("prompt", loaded.getPromptCol());
  }

  @Test
  void tokenizesLikeTheEnginesTokenizer() {
    List<Row> rows = new ArrayList<>();
    String[][] examples = {
      {"Question: who wrote hamlet?\nAnswer:", "William Shakespeare"},
      {"Once upon a time there was a little girl named Lily.", "She liked to play."},
      {"", "Only a target"},
      {"A long prompt " + "that goes on and on ".repeat(40), "The end"},
    };
    for (String[] example : examples) {
      rows.add(RowFactory.create(example[0], example[1], 7));
    }
    StructType schema =
        new StructType()
            .add("prompt", DataTypes.StringType)
            .add("target", DataTypes.StringType)
            .add("other", DataTypes.IntegerType);
    TokenizeTransformer stage =
        new TokenizeTransformer().setTokenizerPath(tokenizer).setMaxLength(48);
    Dataset<Row> out = stage.transform(spark.createDataFrame(rows, schema).repartition(3));
    assertEquals(
        List.of("prompt", "target", "other", "input_ids", "loss_mask", "length", "truncated"),
        List.of(out.schema().fieldNames()));

    try (TextTokenizer reference = TextTokenizer.open(Path.of(tokenizer))) {
      for (Row row : out.collectAsList()) {
        long[] prompt = reference.encode(row.getString(0));
        long[] target = reference.encode(row.getString(1));
        int keep = Math.min(prompt.length, 48 - 2 - target.length);
        List<Integer> expected = new ArrayList<>();
        expected.add(1);
        for (int i = prompt.length - keep; i < prompt.length; i++) {
          expected.add((int) prompt[i]);
        }
        for (long id : target) {
          expected.add((int) id);
        }
        expected.add(2);
        assertEquals(expected, row.getList(3), row.getString(0));
        List<Byte> mask = row.getList(4);
        assertEquals(expected.size(), mask.size());
        for (int i = 0; i < mask.size(); i++) {
          assertEquals(i >= 1 + keep ? 1 : 0, (int) mask.get(i), "mask at " + i);
        }
        assertEquals(expected.size(), row.getInt(5));
        assertEquals(keep < prompt.length, row.getBoolean(6));
        assertEquals(7, row.getInt(2), "other columns pass through");
      }
    }
  }

  /**
   * One record, three paths, one rule ({@link SequenceLayout}): the prepared row, the training
   * example the trainer makes from the same text (JSONL) or from the prepared row (a sweep), and
   * the evaluation prompt from the row or from the text give the same ids, with and without BOS and
   * EOS, cut or not.
   */
  @Test
  void preparationTrainingAndEvaluationAgree() {
    String[][] examples = {
      {"Question: who wrote hamlet?\nAnswer:", "William Shakespeare"},
      {"", "Only a target"},
      {"A long prompt " + "that goes on and on ".repeat(40), "The end"},
    };
    List<Row> rows = new ArrayList<>();
    for (String[] example : examples) {
      rows.add(RowFactory.create(example[0], example[1]));
    }
    StructType schema =
        new StructType().add("prompt", DataTypes.StringType).add("target", DataTypes.StringType);
    Dataset<Row> frame = spark.createDataFrame(rows, schema);
    LlamaConfig model = LlamaConfig.of(32, 64, 1, 4, 2, 512, 512);
    LlamaConfig modelWithoutEos =
        new LlamaConfig(32, 64, 1, 4, 2, 8, 512, 512, 1e-5f, 1e4f, true, 1, List.of());
    TokenizerCache.Entry cache = TokenizerCache.get(tokenizer);
    assertEquals(
        SequenceLayout.of(model), new SequenceLayout(cache.idOf("<s>"), cache.idOf("</s>")));
    int repacked = 0;
    try (TextTokenizer reference = TextTokenizer.open(Path.of(tokenizer))) {
      for (String[] special : new String[][] {{"<s>", "</s>"}, {"<s>", ""}, {"", "</s>"}}) {
        SequenceLayout layout = new SequenceLayout(cache.idOf(special[0]), cache.idOf(special[1]));
        for (int maxLength : new int[] {512, 24}) {
          String where = layout + " maxLength " + maxLength;
          List<Row> prepared =
              new TokenizeTransformer()
                  .setTokenizerPath(tokenizer)
                  .setBosToken(special[0])
                  .setEosToken(special[1])
                  .setMaxLength(maxLength)
                  .transform(frame)
                  .collectAsList();
          assertEquals(examples.length, prepared.size());
          for (Row row : prepared) {
            long[] prompt = reference.encode(row.getString(0));
            long[] target = reference.encode(row.getString(1));
            // The trainer's example from the text (a JSONL line).
            TrainingExample fromText =
                layout.hasBos()
                    ? TrainingExample.of(
                        row.getString(0),
                        row.getString(1),
                        reference,
                        layout.hasEos() ? model : modelWithoutEos,
                        maxLength)
                    : TrainingExample.of(layout.pack(prompt, target, maxLength), maxLength);
            List<Integer> ids = row.getList(2);
            List<Byte> mask = row.getList(3);
            int[] shardIds = ids.stream().mapToInt(Integer::intValue).toArray();
            byte[] shardMask = new byte[mask.size()];
            for (int i = 0; i < shardMask.length; i++) {
              shardMask[i] = mask.get(i);
            }
            long[] expectedIds = fromText.tokens();
            assertArrayEquals(
                expectedIds, Arrays.stream(shardIds).asLongStream().toArray(), "shard, " + where);
            for (int i = 0; i < shardMask.length; i++) {
              assertEquals(fromText.lossMask()[i], shardMask[i] == 1, where + " mask at " + i);
            }
            // The trainer's example from the prepared row, at the same or a shorter length.
            PreparedRecord record = new PreparedRecord("r", List.of("x"), shardIds, shardMask);
            for (int trainLength : new int[] {maxLength, 16}) {
              SequenceLayout.Packed again = layout.pack(prompt, target, trainLength);
              Optional<TrainingExample> fromShard = record.toTrainingExample(layout, trainLength);
              assertEquals(again.fits(), fromShard.isPresent(), where + " to " + trainLength);
              if (again.fits()) {
                repacked++;
                assertArrayEquals(
                    again.ids(), fromShard.get().tokens(), where + " to " + trainLength);
                assertArrayEquals(again.lossMask(), fromShard.get().lossMask(), where);
              }
            }
            // The evaluation prompt: the training sequence's head, from the row or the text.
            int kept = fromText.tokens().length - target.length - (layout.hasEos() ? 1 : 0);
            assertArrayEquals(
                Arrays.copyOf(fromText.tokens(), kept),
                record.promptIds(layout, Integer.MAX_VALUE),
                where);
            int budget = SequenceLayout.promptBudget(64, 56);
            assertArrayEquals(
                layout.prompt(prompt, budget), record.promptIds(layout, budget), where);
          }
        }
      }
    }
    assertTrue(repacked > 3 * 2 * examples.length, "some fit 16 tokens too: " + repacked);
  }

  @Test
  void loadsTheTokenizerOncePerJvm() {
    int before = TokenizerCache.loads();
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      rows.add(RowFactory.create("prompt " + i, "target " + i));
    }
    StructType schema =
        new StructType().add("prompt", DataTypes.StringType).add("target", DataTypes.StringType);
    TokenizeTransformer stage = new TokenizeTransformer().setTokenizerPath(tokenizer);
    Dataset<Row> frame = spark.createDataFrame(rows, schema).repartition(8);
    assertEquals(200, stage.transform(frame).count());
    assertEquals(200, stage.transform(frame).count());
    assertTrue(
        TokenizerCache.loads() - before <= 1,
        "8 partitions, 400 rows, 2 jobs: " + (TokenizerCache.loads() - before) + " loads");
  }

  @Test
  void handlesTargetsThatCannotFit() {
    List<Row> rows =
        List.of(
            RowFactory.create("p", "short"),
            RowFactory.create("p", "a target far too long for eight tokens of room"));
    StructType schema =
        new StructType().add("prompt", DataTypes.StringType).add("target", DataTypes.StringType);
    Dataset<Row> frame = spark.createDataFrame(rows, schema);
    TokenizeTransformer stage =
        new TokenizeTransformer().setTokenizerPath(tokenizer).setMaxLength(8);

    SparkException error =
        assertThrows(SparkException.class, () -> stage.transform(frame).collectAsList());
    assertTrue(String.valueOf(error.getMessage()).contains("target too long"), error.getMessage());
    assertEquals(1, stage.setHandleInvalid("skip").transform(frame).count());
    List<Row> kept =
        stage.setHandleInvalid("keep").transform(frame).orderBy("target").collectAsList();
    assertEquals(2, kept.size());
    assertNull(kept.get(0).get(2), "the long target has no ids");
    assertTrue(kept.get(0).getInt(4) > 8, "its length is what it would need");
  }

  @Test
  void checksTheSchemaBeforeRunning() {
    StructType schema =
        new StructType().add("prompt", DataTypes.StringType).add("target", DataTypes.IntegerType);
    TokenizeTransformer stage = new TokenizeTransformer().setTokenizerPath(tokenizer);
    assertThrows(IllegalArgumentException.class, () -> stage.transformSchema(schema));
    StructType clash =
        new StructType()
            .add("prompt", DataTypes.StringType)
            .add("target", DataTypes.StringType)
            .add("length", DataTypes.IntegerType);
    assertThrows(IllegalArgumentException.class, () -> stage.transformSchema(clash));
    StructType plain =
        new StructType().add("prompt", DataTypes.StringType).add("target", DataTypes.StringType);
    Dataset<Row> empty = spark.createDataFrame(List.<Row>of(), plain);
    assertThrows(IllegalArgumentException.class, () -> new TokenizeTransformer().transform(empty));
    IllegalArgumentException missing =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                new TokenizeTransformer()
                    .setTokenizerPath(dir.resolve("none.json").toString())
                    .transform(empty));
    assertTrue(missing.getMessage().contains("none.json"), missing.getMessage());
  }
}
