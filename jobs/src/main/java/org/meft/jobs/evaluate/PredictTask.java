package org.meft.jobs.evaluate;

import ai.djl.Device;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.meft.checkpoint.AdapterCheckpoint;
import org.meft.datasets.prepare.PreparedRecord;
import org.meft.datasets.prepare.PreparedShards;
import org.meft.forgetting.Forgetting;
import org.meft.generate.Generator;
import org.meft.generate.Sampler;
import org.meft.jobs.task.TaskFailures;
import org.meft.jobs.task.TaskThreads;
import org.meft.jobs.train.TaskPlace;
import org.meft.load.LanguageModel;
import org.meft.load.ModelCache;
import org.meft.plan.DecodeBatch;
import org.meft.plan.MemoryPlan;
import org.meft.plan.ModelShape;
import org.meft.plan.PlanInputs;
import org.meft.stop.NativeGate;
import org.meft.stop.StopSignals;
import org.meft.stop.StoppedException;
import org.meft.tokenizer.SequenceLayout;
import org.meft.train.RunSpec;
import scala.jdk.javaapi.CollectionConverters;

/**
 * What one evaluation task does: lease the base model with the run's adapter from the executor's
 * {@link ExecutorModels} (loaded by the first task that needs them), then decode the examples of
 * its slice with the KV cache, {@link Decoding#batch} at a time (by default the run's {@link
 * DecodeBatch}; prompts grouped by length, {@link Generator#generateBatch}), from BOS and the
 * prompt ({@link SequenceLayout#prompt}, front-truncated so that the prompt and the new tokens fit
 * the model). A run's first slice measures the run's {@link Forgetting} first, against the
 * reference the executor computed when it loaded the base model, and its rows carry it.
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
        ExecutorModels.get(slice.forgettingPrompts()).acquire(base, runDir)) {
      LanguageModel model = lease.model();
      Forgetting forgetting = null;
      if (slice.measuresForgetting()) {
        try (NativeGate.Section section = NativeGate.enter()) {
          forgetting =
              Forgetting.measure(
                  ExecutorModels.forgettingReference(base), model.llama(), model.manager());
        }
      }
      SequenceLayout layout = SequenceLayout.of(model.config());
      int promptBudget =
          SequenceLayout.promptBudget(model.config().maxSeqLen(), slice.maxNewTokens());
      int batch = decoding.batch() == Decoding.AUTO ? plannedBatch(slice, run) : decoding.batch();
      List<long[]> prompts = new ArrayList<>(records.size());
      for (PreparedRecord record : records) {
        prompts.add(record.promptIds(layout, promptBudget));
      }
      // Prompts of similar lengths decode together, so that little of a batch is left padding;
      // the rows keep the slice's order.
      Integer[] order = new Integer[records.size()];
      for (int i = 0; i < order.length; i++) {
        order[i] = i;
      }
      Arrays.sort(order, Comparator.comparingInt(i -> prompts.get(i).length));
      Row[] byRecord = new Row[records.size()];
      for (int from = 0; from < order.length; from += batch) {
        List<Integer> chunk =
            Arrays.asList(order).subList(from, Math.min(order.length, from + batch));
        List<long[]> chunkPrompts = new ArrayList<>(chunk.size());
        List<Sampler> samplers = new ArrayList<>(chunk.size());
        for (int i : chunk) {
          chunkPrompts.add(prompts.get(i));
          samplers.add(decoding.samplerFor(records.get(i).id()));
        }
        if (StopSignals.requested()) {
          throw StoppedException.at(
              "while evaluating run '" + slice.runId() + "' (its predictions are not written)");
        }
        TaskContext task = TaskContext.get();
        if (task != null) {
          task.killTaskIfInterrupted(); // the job was cancelled: another task failed
        }
        long start = System.nanoTime();
        List<Generator.Generation> generations;
        try (NativeGate.Section section = NativeGate.enter()) {
          generations =
              Generator.generateBatch(
                  model.llama(), model.manager(), chunkPrompts, slice.maxNewTokens(), samplers);
        }
        double shareMs = (System.nanoTime() - start) / 1e6 / chunk.size();
        for (int j = 0; j < chunk.size(); j++) {
          int i = chunk.get(j);
          byRecord[i] = row(slice, records.get(i), generations.get(j), shareMs, forgetting, model);
        }
      }
      rows.addAll(Arrays.asList(byRecord));
    }
    return rows;
  }

  /** The batch of {@link DecodeBatch} for the run's memory plan on this task's device. */
  private static int plannedBatch(EvaluationSlice slice, RunSpec run) {
    Device device = TaskPlace.current().djlDevice();
    MemoryPlan plan =
        MemoryPlan.of(PlanInputs.of(run, ModelShape.read(Path.of(slice.model())), device.isGpu()));
    return DecodeBatch.of(plan, DecodeBatch.deviceBytes(run, device));
  }

  private static Row row(
      EvaluationSlice slice,
      PreparedRecord record,
      Generator.Generation generation,
      double decodeShareMs,
      Forgetting forgetting,
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
        decodeShareMs,
        forgetting == null ? null : measured(forgetting.meanKl()),
        forgetting == null ? null : measured(forgetting.changedShare()));
  }

  /** A value, or null when nothing was measured (NaN: the base continued no story prompt). */
  private static Double measured(double value) {
    return Double.isNaN(value) ? null : value;
  }
}
