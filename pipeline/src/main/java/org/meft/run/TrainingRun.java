package org.meft.run;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.util.cuda.CudaUtils;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.meft.adapter.InstalledAdapters;
import org.meft.checkpoint.AdapterCheckpoint;
import org.meft.checkpoint.ModelFingerprint;
import org.meft.checkpoint.RunLock;
import org.meft.format.CheckpointException;
import org.meft.load.LanguageModel;
import org.meft.plan.MemoryPlan;
import org.meft.plan.ModelShape;
import org.meft.plan.PlanInputs;
import org.meft.plan.PlanLimits;
import org.meft.plan.PlanRefusedException;
import org.meft.train.RunSpec;
import org.meft.train.TrainResult;
import org.meft.train.Trainer;
import org.meft.train.TrainerSnapshot;
import org.meft.train.TrainingExample;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One training run from its {@link RunSpec}: loads the model and the data, installs the adapter,
 * resumes from the latest complete checkpoint in the output directory when there is one, trains,
 * and writes a checkpoint every {@code checkpointEvery} steps and at the end.
 */
public final class TrainingRun {
  private static final Logger LOG = LoggerFactory.getLogger(TrainingRun.class);

  private TrainingRun() {}

  /**
   * Prints the memory plan of {@code spec} on {@code device} (null: the engine's default) and
   * refuses it before any weight loads when it exceeds the device memory ({@code device-memory-gb},
   * by default the GPU's total memory on a GPU and no limit on the CPU) or the host store's budget
   * ({@code host-budget-mb}), naming the component and the largest adapter size that would fit.
   *
   * @throws PlanRefusedException when a limit is exceeded
   */
  public static MemoryPlan preflight(RunSpec spec, Device device, PrintStream progress) {
    Device on = device != null ? device : Engine.getInstance().defaultDevice();
    boolean gpu = on.isGpu();
    MemoryPlan plan = MemoryPlan.of(PlanInputs.of(spec, ModelShape.read(spec.baseModel()), gpu));
    if (progress != null) {
      progress.print(plan.table());
    }
    long deviceLimit = spec.deviceMemoryBytes();
    if (deviceLimit == 0 && gpu) {
      deviceLimit = CudaUtils.getGpuMemory(on).getMax();
    }
    new PlanLimits(deviceLimit, spec.hostBudgetBytes(), 0).check(plan);
    return plan;
  }

  /**
   * Checks the plan ({@link #preflight}), loads {@code spec.baseModel()} and runs {@link
   * #run(LanguageModel, RunSpec, Path, PrintStream)}.
   */
  public static TrainResult run(RunSpec spec, Path outputDir, PrintStream progress) {
    preflight(spec, null, progress);
    try (LanguageModel model =
        LanguageModel.load(spec.baseModel(), spec.tokenizer(), spec.baseDtype(), null)) {
      return run(model, spec, outputDir, progress);
    }
  }

  /**
   * Trains {@code spec} on an already loaded base model (which must be {@code spec.baseModel()}:
   * the checkpoints record its fingerprint); the adapter is removed from the model afterwards. Full
   * fine-tuning changes the model's weights in place, so a model used for a {@code full} run must
   * not be reused as a base model.
   *
   * @param outputDir where checkpoints go, and where a run resumes from; null: no checkpoints
   * @param progress progress lines (may be null)
   * @throws CheckpointException if {@code outputDir} holds a checkpoint of another run or base
   *     model
   */
  public static TrainResult run(
      LanguageModel model, RunSpec spec, Path outputDir, PrintStream progress) {
    return run(model, spec, outputDir, progress, null);
  }

  /** With {@code afterStep} called after each step's checkpoint (tests stop runs with it). */
  static TrainResult run(
      LanguageModel model,
      RunSpec spec,
      Path outputDir,
      PrintStream progress,
      Trainer.StepListener afterStep) {
    List<TrainingExample> examples =
        TrainingExample.readJsonl(
            spec.data(), model.tokenizer(), model.config(), spec.train().maxLength());
    return run(model, spec, examples, outputDir, progress, afterStep);
  }

  /**
   * As {@link #run(LanguageModel, RunSpec, Path, PrintStream)}, on examples already tokenized (the
   * Spark sweep's prepared shards); {@code spec.data()} then only names where they came from.
   */
  public static TrainResult run(
      LanguageModel model,
      RunSpec spec,
      List<TrainingExample> examples,
      Path outputDir,
      PrintStream progress) {
    return run(model, spec, examples, outputDir, progress, null);
  }

  /**
   * As {@link #run(LanguageModel, RunSpec, List, Path, PrintStream)}, calling {@code afterStep}
   * (may be null) after each step and its checkpoint (the Spark sweep reports progress with it).
   */
  @SuppressWarnings("try") // the lock is held for the run, never read
  public static TrainResult run(
      LanguageModel model,
      RunSpec spec,
      List<TrainingExample> examples,
      Path outputDir,
      PrintStream progress,
      Trainer.StepListener afterStep) {
    try (RunLock lock = outputDir == null ? null : RunLock.acquire(outputDir)) {
      String fingerprint = ModelFingerprint.of(model.llama());
      Optional<Path> latest = Optional.empty();
      if (outputDir != null) {
        AdapterCheckpoint.removeIncomplete(outputDir);
        latest = AdapterCheckpoint.latest(outputDir);
      }
      try (BufferAllocator allocator = new RootAllocator(spec.hostBudgetBytes());
          NDManager resumeManager = model.manager().newSubManager()) {
        TrainerSnapshot resume = null;
        InstalledAdapters installed;
        if (latest.isPresent()) {
          checkSameRun(latest.get(), spec);
          installed =
              AdapterCheckpoint.load(latest.get(), model.llama(), model.manager(), allocator);
          resume = AdapterCheckpoint.readTrainerSnapshot(latest.get(), resumeManager);
          String line =
              resume.state().step() >= spec.train().steps()
                  ? "run already finished: "
                      + latest.get()
                      + " holds all "
                      + spec.train().steps()
                      + " steps; nothing to train (its metrics follow; a new --output trains"
                      + " again)"
                  : "resumed from " + latest.get() + " at step " + resume.state().step();
          LOG.info(line);
          if (progress != null) {
            progress.println("meft train: " + line);
          }
        } else {
          installed =
              InstalledAdapters.install(
                  model.llama(), spec.adapter(), model.manager(), allocator, spec.train().seed());
        }
        try (InstalledAdapters adapters = installed) {
          if (progress != null) {
            progress.printf(
                "meft train: %s on %d examples, %,d trainable parameters, host store %,d bytes%n",
                spec.adapter().method().name(),
                examples.size(),
                adapters.trainableParameters(),
                adapters.store() == null ? 0 : adapters.store().bytes());
          }
          Trainer.StepListener checkpoints =
              outputDir == null
                  ? null
                  : (snapshot, soFar) -> {
                    int step = snapshot.state().step();
                    boolean due =
                        step == spec.train().steps()
                            || (spec.checkpointEvery() > 0 && step % spec.checkpointEvery() == 0);
                    if (due) {
                      Path written =
                          AdapterCheckpoint.write(
                              outputDir, spec, fingerprint, adapters, snapshot, soFar, allocator);
                      LOG.info("checkpoint {}", written);
                    }
                  };
          if (afterStep != null) {
            Trainer.StepListener first = checkpoints;
            checkpoints =
                (snapshot, soFar) -> {
                  if (first != null) {
                    first.afterStep(snapshot, soFar);
                  }
                  afterStep.afterStep(snapshot, soFar);
                };
          }
          return new Trainer(model.llama(), adapters, spec.train(), progress)
              .train(examples, model.manager(), resume, checkpoints);
        }
      }
    }
  }

  /** Settings that may change between the processes of one run. */
  private static final Set<String> MAY_CHANGE =
      Set.of(
          "model",
          "tokenizer",
          "data",
          "log-every",
          "host-budget-mb",
          "device-memory-gb",
          "checkpoint-every");

  /** A run directory belongs to one run: resuming it with other settings would mix two runs. */
  private static void checkSameRun(Path checkpoint, RunSpec spec) {
    Map<String, String> saved = AdapterCheckpoint.readManifest(checkpoint).run().toSettings();
    Map<String, String> now = spec.toSettings();
    List<String> differ = new ArrayList<>();
    for (String key : RunSpec.SETTINGS) {
      if (!MAY_CHANGE.contains(key) && !Objects.equals(saved.get(key), now.get(key))) {
        differ.add(key + " " + saved.get(key) + " -> " + now.get(key));
      }
    }
    if (!differ.isEmpty()) {
      throw new CheckpointException(
          checkpoint.resolve(AdapterCheckpoint.MANIFEST),
          "holds a checkpoint of another run ("
              + String.join(", ", differ)
              + "); resume with the same settings or use a new output directory");
    }
  }
}
