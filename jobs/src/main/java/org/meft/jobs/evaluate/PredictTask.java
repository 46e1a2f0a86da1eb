package org.meft.jobs.evaluate;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.meft.checkpoint.AdapterCheckpoint;
import org.meft.datasets.prepare.PreparedRecord;
import org.meft.datasets.prepare.PreparedShards;
import org.meft.generate.Generator;
import org.meft.generate.Sampler;
import org.meft.jobs.task.TaskFailures;
import org.meft.jobs.task.TaskThreads;
import org.meft.jobs.train.TaskPlace;
import org.meft.load.LanguageModel;
import org.meft.load.ModelCache;
import org.meft.stop.NativeGate;
import org.meft.stop.StopSignals;
import org.meft.stop.StoppedException;
import org.meft.tokenizer.SequenceLayout;
import org.meft.train.RunSpec;
import scala.jdk.javaapi.CollectionConverters;

/**
 * What one evaluation task does: lease the base model with the run's adapter from the executor's
 * {@link ExecutorModels} (loaded by the first task that needs them), then decode the examples of
 * its slice with the KV cache, {@link Decoding#batch} at a time ({@link Generator#generateBatch}),
 * from BOS and the prompt ({@link SequenceLayout#prompt}, front-truncated so that the prompt and
 * the new tokens fit the model).
 */
public final class PredictTask {
  private PredictTask() {}

  /** The prediction rows ({@link Predictions#SCHEMA}) of one slice. */
  public static List<Row> predict(EvaluationSlice slice) {
    // On an executor of a cluster, SIGTERM stops decoding between batches, then the executor exits.
    StopSignals.install();
    try (StopSignals.Watch watch = StopSignals.watch()) {
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

  private static List<Row> decode(EvaluationSlice slice) {
    List<PreparedRecord> records =
        PreparedShards.read(Path.of(slice.shard()), slice.offset(), slice.count());
    Path runDir = Path.of(slice.runDir());
    TaskThreads.limitToTaskCores();
    RunSpec run = AdapterCheckpoint.readManifest(runDir).run();
    ModelCache.BaseKey base =
        new ModelCache.BaseKey(
            Path.of(slice.model()),
            slice.tokenizer() == null ? null : Path.of(slice.tokenizer()),
            run.baseDtype(),
            TaskPlace.current().djlDevice());
    Decoding decoding = slice.decoding();
    List<Row> rows = new ArrayList<>(records.size());
    try (ModelCache<LanguageModel, ModelCache.LoadedAdapter>.Lease lease =
        ExecutorModels.get().acquire(base, runDir)) {
      LanguageModel model = lease.model();
      SequenceLayout layout = SequenceLayout.of(model.config());
      int promptBudget =
          SequenceLayout.promptBudget(model.config().maxSeqLen(), slice.maxNewTokens());
      for (int from = 0; from < records.size(); from += decoding.batch()) {
        List<PreparedRecord> chunk =
            records.subList(from, Math.min(records.size(), from + decoding.batch()));
        List<long[]> prompts = new ArrayList<>(chunk.size());
        List<Sampler> samplers = new ArrayList<>(chunk.size());
        for (PreparedRecord record : chunk) {
          prompts.add(record.promptIds(layout, promptBudget));
          samplers.add(decoding.samplerFor(record.id()));
        }
        if (StopSignals.requested()) {
          throw StoppedException.at(
              "while evaluating run '" + slice.runId() + "' (its predictions are not written)");
        }
        long start = System.nanoTime();
        List<Generator.Generation> generations;
        try (NativeGate.Section section = NativeGate.enter()) {
          generations =
              Generator.generateBatch(
                  model.llama(), model.manager(), prompts, slice.maxNewTokens(), samplers);
        }
        double shareMs = (System.nanoTime() - start) / 1e6 / chunk.size();
        for (int i = 0; i < chunk.size(); i++) {
          rows.add(row(slice, chunk.get(i), generations.get(i), shareMs, model));
        }
      }
    }
    return rows;
  }

  private static Row row(
      EvaluationSlice slice,
      PreparedRecord record,
      Generator.Generation generation,
      double decodeShareMs,
      LanguageModel model) {
    return RowFactory.create(
        slice.runId(),
        slice.dataset(),
        slice.split(),
        record.id(),
        model.tokenizer().decode(generation.newIds()),
        // Spark's row encoder takes Scala sequences for array columns.
        CollectionConverters.asScala(record.references()).toSeq(),
        generation.promptIds().length,
        generation.newIds().length,
        generation.stopReason().name().toLowerCase(java.util.Locale.ROOT),
        generation.seconds() * 1000,
        decodeShareMs);
  }
}
