package org.meft.run;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.util.cuda.CudaUtils;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.meft.adapter.InstalledAdapters;
import org.meft.checkpoint.AdapterCheckpoint;
import org.meft.checkpoint.CheckpointManifest;
import org.meft.checkpoint.ModelFingerprint;
import org.meft.checkpoint.RunLock;
import org.meft.format.CheckpointException;
import org.meft.load.LanguageModel;
import org.meft.plan.MemoryPlan;
import org.meft.plan.ModelShape;
import org.meft.plan.PlanInputs;
import org.meft.plan.PlanLimits;
import org.meft.plan.PlanRefusedException;
import org.meft.reversible.ReversibleStack;
import org.meft.settings.Setting;
import org.meft.stop.NativeGate;
import org.meft.stop.StoppedException;
import org.meft.train.RunSpec;
import org.meft.train.TrainResult;
import org.meft.train.Trainer;
import org.meft.train.TrainerSnapshot;
import org.meft.train.TrainingExample;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One training run from its {@link RunSpec}: loads the model and the data, installs the adapter,
 * resumes from the newest checkpoint in the output directory that verifies ({@link
 * AdapterCheckpoint#verify}; a refused one is named with the reason and set aside as {@code
 * refused-checkpoint-NNNNNN}), trains, and writes a checkpoint every {@code checkpointEvery} steps
 * and at the end. When the output directory holds checkpoints and none verifies, the run refuses to
 * start again from step 0 unless {@link #RESTART} is given.
 */
public final class TrainingRun {
  private static final Logger LOG = LoggerFactory.getLogger(TrainingRun.class);

  /** Start again from step 0 when no checkpoint of the output directory verifies. */
  public static final Setting RESTART =
      Setting.flag(
          "restart",
          "when no checkpoint in the output folder verifies, set them aside and train again from"
              + " step 0 (without it the run refuses)");

  private static final String REFUSED_PREFIX = "refused-";

  private TrainingRun() {}

  /**
   * Prints the memory plan of {@code spec} on {@code device} (null: the engine's default) and
   * refuses it before any weight loads when it exceeds the device memory ({@code device-memory-gb},
   * by default the GPU's total memory on a GPU and the machine's memory on the CPU) or the host
   * store's budget ({@code host-budget-mb}), naming the component and the largest adapter size that
   * would fit.
   *
   * @throws PlanRefusedException when a limit is exceeded
   */
  public static MemoryPlan preflight(RunSpec spec, Device device, PrintStream progress) {
    Device on = device != null ? device : Engine.getInstance().defaultDevice();
    boolean gpu = on.isGpu();
    ModelShape shape = ModelShape.read(spec.baseModel());
    spec.checkModel(shape.config());
    MemoryPlan plan = MemoryPlan.of(PlanInputs.of(spec, shape, gpu));
    if (progress != null) {
      progress.print(plan.table());
    }
    long deviceLimit = spec.deviceMemoryBytes();
    if (deviceLimit == 0) {
      // On the CPU the "device" is the machine's memory: a plan over it (a huge batch) is refused
      // here rather than found out by an OutOfMemoryError minutes later.
      deviceLimit =
          gpu
              ? CudaUtils.getGpuMemory(on).getMax()
              : ((com.sun.management.OperatingSystemMXBean)
                      ManagementFactory.getOperatingSystemMXBean())
                  .getTotalMemorySize();
    }
    new PlanLimits(deviceLimit, spec.hostBudgetBytes(), 0).check(plan);
    return plan;
  }

  /**
   * Checks the plan ({@link #preflight}), loads {@code spec.baseModel()} and runs {@link
   * #run(LanguageModel, RunSpec, Path, PrintStream)}.
   */
  public static TrainResult run(RunSpec spec, Path outputDir, PrintStream progress) {
    return run(spec, outputDir, false, progress);
  }

  /** As {@link #run(RunSpec, Path, PrintStream)}, with {@link #RESTART} when {@code restart}. */
  public static TrainResult run(
      RunSpec spec, Path outputDir, boolean restart, PrintStream progress) {
    preflight(spec, null, progress);
    try (LanguageModel model =
        LanguageModel.load(spec.baseModel(), spec.tokenizer(), spec.baseDtype(), null)) {
      List<TrainingExample> examples =
          TrainingExample.readJsonl(
              spec.data(), model.tokenizer(), model.config(), spec.train().maxLength());
      return run(model, spec, examples, outputDir, restart, progress, null);
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
            spec.data(),
            model.tokenizer(),
            model.config(),
            // as the plan and the sweep do: never past the positions the model was trained for
            Math.min(spec.train().maxLength(), model.config().maxSeqLen()));
    return run(model, spec, examples, outputDir, false, progress, afterStep);
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
    return run(model, spec, examples, outputDir, false, progress, null);
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
      boolean restart,
      PrintStream progress,
      Trainer.StepListener afterStep) {
    try (RunLock lock = outputDir == null ? null : RunLock.acquire(outputDir)) {
      String fingerprint = ModelFingerprint.of(model.llama());
      if (outputDir != null) {
        AdapterCheckpoint.removeIncomplete(outputDir);
      }
      try (BufferAllocator allocator = new RootAllocator(spec.hostBudgetBytes());
          NDManager resumeManager = model.manager().newSubManager()) {
        Optional<Resumed> resumed =
            outputDir == null
                ? Optional.empty()
                : resume(model, spec, outputDir, restart, allocator, resumeManager, progress);
        TrainerSnapshot resume = resumed.map(Resumed::snapshot).orElse(null);
        InstalledAdapters installed =
            resumed.isPresent() ? resumed.get().adapters() : install(model, spec, allocator);
        try (InstalledAdapters adapters = installed) {
          if (progress != null) {
            progress.printf(
                "meft train: %s on %d examples, %,d trainable parameters, host store %,d bytes%n",
                spec.adapter().method().name(),
                examples.size(),
                adapters.trainableParameters(),
                adapters.store() == null ? 0 : adapters.store().bytes());
          }
          Checkpoints checkpoints =
              new Checkpoints(
                  outputDir,
                  spec,
                  fingerprint,
                  adapters,
                  allocator,
                  resumed.map(Resumed::from).orElse(null),
                  afterStep);
          try {
            TrainResult result =
                new Trainer(model.llama(), adapters, spec.train(), progress)
                    .train(examples, model.manager(), resume, checkpoints);
            return result.withActivationBytesKept(activationBytesKept(model, spec, examples));
          } catch (StoppedException e) {
            throw StoppedException.training(e.step(), spec.train().steps(), checkpoints.last);
          }
        }
      }
    }
  }

  /** Fresh adapters for a run that starts at step 0, with its reversible stack if it has one. */
  private static InstalledAdapters install(
      LanguageModel model, RunSpec spec, BufferAllocator allocator) {
    InstalledAdapters installed =
        InstalledAdapters.install(
            model.llama(), spec.adapter(), model.manager(), allocator, spec.train().seed());
    try {
      ReversibleStack.install(
          model.llama(),
          spec.train().reversible(),
          installed,
          model.manager(),
          spec.train().seed());
    } catch (RuntimeException e) {
      installed.close();
      throw e;
    }
    return installed;
  }

  /** The adapters and trainer state loaded from a checkpoint. */
  private record Resumed(InstalledAdapters adapters, TrainerSnapshot snapshot, Path from) {}

  /**
   * Writes the run's checkpoints: every {@code checkpointEvery} steps, after the last step, and
   * after the last step before a stop; remembers the newest. Then calls the tests' listener.
   */
  private static final class Checkpoints implements Trainer.StepListener {
    private final Path outputDir;
    private final RunSpec spec;
    private final String fingerprint;
    private final InstalledAdapters adapters;
    private final BufferAllocator allocator;
    private final Trainer.StepListener then;
    Path last;

    Checkpoints(
        Path outputDir,
        RunSpec spec,
        String fingerprint,
        InstalledAdapters adapters,
        BufferAllocator allocator,
        Path resumedFrom,
        Trainer.StepListener then) {
      this.outputDir = outputDir;
      this.spec = spec;
      this.fingerprint = fingerprint;
      this.adapters = adapters;
      this.allocator = allocator;
      this.then = then;
      this.last = resumedFrom;
    }

    @Override
    public void afterStep(TrainerSnapshot snapshot, TrainResult soFar) {
      int step = snapshot.state().step();
      write(
          snapshot,
          soFar,
          step == spec.train().steps()
              || (spec.checkpointEvery() > 0 && step % spec.checkpointEvery() == 0));
      if (then != null) {
        then.afterStep(snapshot, soFar);
      }
    }

    @Override
    public void beforeStop(TrainerSnapshot snapshot, TrainResult soFar) {
      write(snapshot, soFar, true);
      if (then != null) {
        then.beforeStop(snapshot, soFar);
      }
    }

    private void write(TrainerSnapshot snapshot, TrainResult soFar, boolean due) {
      if (outputDir != null && due) {
        last =
            AdapterCheckpoint.write(
                outputDir, spec, fingerprint, adapters, snapshot, soFar, allocator);
        LOG.info("checkpoint {}", last);
      }
    }
  }

  /**
   * Loads the newest checkpoint of {@code outputDir} that verifies, newest first; each refused one
   * is reported (file and reason) and, once another is chosen or the run restarts, set aside.
   *
   * @return empty when the directory holds no checkpoint, or none verifies and {@code restart}
   * @throws CheckpointException when checkpoints exist, none verifies and not {@code restart}; or
   *     when the newest readable one is another run's
   */
  private static Optional<Resumed> resume(
      LanguageModel model,
      RunSpec spec,
      Path outputDir,
      boolean restart,
      BufferAllocator allocator,
      NDManager resumeManager,
      PrintStream progress) {
    List<Path> checkpoints = new ArrayList<>(AdapterCheckpoint.directories(outputDir));
    Collections.reverse(checkpoints);
    List<Path> refused = new ArrayList<>();
    String firstReason = null;
    for (Path checkpoint : checkpoints) {
      // Another run's settings refuse the directory as a whole, never a reason to fall back.
      Optional<CheckpointManifest> manifest = readable(checkpoint);
      if (manifest.isPresent()) {
        checkSameRun(checkpoint, manifest.get(), spec);
      }
      InstalledAdapters adapters = null;
      try {
        TrainerSnapshot snapshot;
        try (NativeGate.Section section = NativeGate.enter()) {
          adapters = AdapterCheckpoint.load(checkpoint, model.llama(), model.manager(), allocator);
          snapshot = AdapterCheckpoint.readTrainerSnapshot(checkpoint, resumeManager);
        }
        setAside(refused, progress);
        int step = snapshot.state().step();
        say(
            progress,
            step >= spec.train().steps()
                ? "run already finished: "
                    + checkpoint
                    + " holds all "
                    + spec.train().steps()
                    + " steps; nothing to train (its metrics follow; a new --output trains again)"
                : "resumed from " + checkpoint + " at step " + step);
        return Optional.of(new Resumed(adapters, snapshot, checkpoint));
      } catch (CheckpointException e) {
        if (adapters != null) {
          adapters.close();
        }
        refused.add(checkpoint);
        firstReason = firstReason == null ? e.getMessage() : firstReason;
        say(progress, "checkpoint refused: " + e.getMessage());
      }
    }
    if (refused.isEmpty()) {
      return Optional.empty();
    }
    if (!restart) {
      throw new CheckpointException(
          outputDir,
          "none of its "
              + refused.size()
              + " checkpoints verifies (newest: "
              + firstReason
              + "); repair or remove them, or pass --"
              + RESTART.name()
              + " to train again from step 0");
    }
    setAside(refused, progress);
    say(progress, "--" + RESTART.name() + ": training again from step 0");
    return Optional.empty();
  }

  /** Renames refused checkpoints to {@code refused-checkpoint-NNNNNN}, kept for inspection. */
  private static void setAside(List<Path> refused, PrintStream progress) {
    for (Path checkpoint : refused) {
      Path aside = checkpoint.resolveSibling(REFUSED_PREFIX + checkpoint.getFileName());
      try {
        if (Files.exists(aside)) {
          AdapterCheckpoint.remove(aside);
        }
        Files.move(checkpoint, aside);
      } catch (IOException e) {
        throw new CheckpointException(checkpoint, "cannot set the refused checkpoint aside: " + e);
      }
      say(progress, "set aside " + checkpoint + " as " + aside.getFileName());
    }
  }

  private static void say(PrintStream progress, String line) {
    LOG.info(line);
    if (progress != null) {
      progress.println("meft train: " + line);
    }
  }

  /** A checkpoint's manifest, when it reads (its own errors are reported by the load). */
  private static Optional<CheckpointManifest> readable(Path checkpoint) {
    try {
      return Optional.of(AdapterCheckpoint.readManifest(checkpoint));
    } catch (CheckpointException e) {
      return Optional.empty();
    }
  }

  /**
   * The base activations kept for backward by the memory plan's accounting, at the run's largest
   * micro-batch: batch-size sequences of its longest example.
   */
  private static long activationBytesKept(
      LanguageModel model, RunSpec spec, List<TrainingExample> examples) {
    int longest = 1;
    for (TrainingExample example : examples) {
      longest = Math.max(longest, example.tokens().length - 1);
    }
    PlanInputs in =
        PlanInputs.of(spec, new ModelShape(model.config(), model.llama().dataType()), false)
            .withSeqLen(longest);
    return MemoryPlan.of(in).bytes(MemoryPlan.ACTIVATIONS);
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
  private static void checkSameRun(Path checkpoint, CheckpointManifest manifest, RunSpec spec) {
    Map<String, String> saved = manifest.run().toSettings();
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
