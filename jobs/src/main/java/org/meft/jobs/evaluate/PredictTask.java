package org.meft.jobs.evaluate;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.meft.adapter.InstalledAdapters;
import org.meft.checkpoint.AdapterCheckpoint;
import org.meft.datasets.prepare.PreparedRecord;
import org.meft.datasets.prepare.PreparedShards;
import org.meft.generate.Generator;
import org.meft.generate.Sampler;
import org.meft.jobs.task.TaskFailures;
import org.meft.jobs.task.TaskThreads;
import org.meft.jobs.train.TaskPlace;
import org.meft.load.LanguageModel;
import org.meft.tokenizer.SequenceLayout;
import org.meft.train.RunSpec;
import scala.jdk.javaapi.CollectionConverters;

/**
 * What one evaluation task does: load the base model and the run's adapter once, then decode every
 * example of its slice greedily with the KV cache, from BOS and the prompt ({@link
 * SequenceLayout#prompt}, front-truncated so that the prompt and the new tokens fit the model).
 */
public final class PredictTask {
  private PredictTask() {}

  /** The prediction rows ({@link Predictions#SCHEMA}) of one slice. */
  public static List<Row> predict(EvaluationSlice slice) {
    try {
      return decode(slice);
    } catch (RuntimeException e) {
      throw new TaskFailures.TaskException(
          "evaluating run '"
              + slice.runId()
              + "' on "
              + slice.shard()
              + " rows "
              + slice.offset()
              + "+"
              + slice.count()
              + ": "
              + e.getMessage(),
          e);
    }
  }

  @SuppressWarnings("try") // the adapters act through the model while installed
  private static List<Row> decode(EvaluationSlice slice) {
    List<PreparedRecord> records =
        PreparedShards.read(Path.of(slice.shard()), slice.offset(), slice.count());
    Path runDir = Path.of(slice.runDir());
    TaskThreads.limitToTaskCores();
    RunSpec run = AdapterCheckpoint.readManifest(runDir).run();
    long budget = run.hostBudgetBytes();
    List<Row> rows = new ArrayList<>(records.size());
    try (LanguageModel model =
            LanguageModel.load(
                Path.of(slice.model()),
                slice.tokenizer() == null ? null : Path.of(slice.tokenizer()),
                run.baseDtype(),
                TaskPlace.current().djlDevice());
        BufferAllocator allocator = new RootAllocator(budget);
        InstalledAdapters adapters =
            AdapterCheckpoint.load(runDir, model.llama(), model.manager(), allocator)) {
      SequenceLayout layout = SequenceLayout.of(model.config());
      int promptBudget =
          SequenceLayout.promptBudget(model.config().maxSeqLen(), slice.maxNewTokens());
      for (PreparedRecord record : records) {
        long[] prompt = record.promptIds(layout, promptBudget);
        Generator.Generation generation =
            Generator.generate(
                model.llama(), model.manager(), prompt, slice.maxNewTokens(), Sampler.greedy());
        rows.add(
            RowFactory.create(
                slice.runId(),
                slice.dataset(),
                record.id(),
                model.tokenizer().decode(generation.newIds()),
                // Spark's row encoder takes Scala sequences for array columns.
                CollectionConverters.asScala(record.references()).toSeq(),
                prompt.length,
                generation.newIds().length,
                generation.stopReason().name().toLowerCase(java.util.Locale.ROOT),
                generation.seconds() * 1000));
      }
    }
    return rows;
  }
}
