package org.meft.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.meft.adapter.ActiveTokens;
import org.meft.adapter.AdapterMeters;
import org.meft.adapter.InstalledAdapters;
import org.meft.adapter.MeterTotals;
import org.meft.model.LayerPass;
import org.meft.model.Llama;
import org.meft.stop.NativeGate;
import org.meft.stop.StopSignals;
import org.meft.stop.StoppedException;
import org.meft.store.HostStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Trains the installed adapters with the causal-LM loss on target tokens only: AdamW with linear
 * warm-up and cosine decay, global-norm clipping over device and host gradients, gradient
 * accumulation, and a guard that skips non-finite steps and stops after too many in a row.
 */
public final class Trainer {
  private static final Logger LOG = LoggerFactory.getLogger(Trainer.class);
  private final Llama model;
  private final InstalledAdapters adapters;
  private final TrainConfig config;
  private final TrainingStrategy strategy;
  private final PrintStream progress;

  public Trainer(
      Llama model, InstalledAdapters adapters, TrainConfig config, PrintStream progress) {
    this.model = model;
    this.adapters = adapters;
    this.config = config;
    this.strategy = TrainingStrategy.of(model, adapters, config);
    this.progress = progress;
  }

  /** Called after every optimizer step, e.g. to write a checkpoint. */
  @FunctionalInterface
  public interface StepListener {
    /**
     * @param snapshot the trainer's state after the step (its arrays valid only during the call)
     * @param soFar the run's metrics so far
     */
    void afterStep(TrainerSnapshot snapshot, TrainResult soFar);

    /**
     * Called instead of {@link #afterStep} after the last step before a stop ({@link StopSignals});
     * by default the same.
     */
    default void beforeStop(TrainerSnapshot snapshot, TrainResult soFar) {
      afterStep(snapshot, soFar);
    }
  }

  /**
   * Runs {@code config.steps()} optimizer steps over {@code examples}, cycling in a seeded order.
   */
  public TrainResult train(List<TrainingExample> examples, NDManager parent) {
    return train(examples, parent, null, null);
  }

  /**
   * Continues from {@code resume} (null: from the start) to {@code config.steps()} steps, calling
   * {@code listener} (may be null) after each. A resumed run computes what the uninterrupted run
   * would have, given the adapters restored to their state at {@code resume}'s step: the data order
   * is replayed, the learning rate follows the step, dropout is seeded per step, and the device
   * optimizer restarts from the saved moments and step count.
   *
   * <p>Between two steps it reads {@link StopSignals#requested} once: when a stop signal has
   * arrived, it calls {@link StepListener#beforeStop} (for the step just done) and throws a {@link
   * StoppedException}. Each step runs inside a {@link NativeGate} section, so the process never
   * exits in the middle of one.
   *
   * @throws StoppedException when a stop signal arrived (the message names the step, not yet the
   *     checkpoint: the caller that wrote one says where)
   */
  public TrainResult train(
      List<TrainingExample> examples,
      NDManager parent,
      TrainerSnapshot resume,
      StepListener listener) {
    TrainerState start = resume == null ? TrainerState.initial() : resume.state();
    if (start.step() > config.steps()) {
      throw new IllegalArgumentException(
          "cannot resume at step " + start.step() + " of a run of " + config.steps() + " steps");
    }
    Map<String, Parameter> named = adapters.namedDeviceParameters();
    Counters run = new Counters(start, new DataOrder(examples, config.seed()));
    try (NDManager manager = parent.newSubManager();
        DeviceAdamW optimizer =
            new DeviceAdamW(manager, adapters.hostMomentParameters(), adapters.meters())) {
      if (resume != null) {
        optimizer.restore(named, resume.optimizer(), start.optimizerStep());
        adapters.meters().carry(start.meters());
      }
      ParameterStore ps = new ParameterStore(manager, false);
      if (resume == null) {
        adapters.initialiseFromTokens(() -> observeTokens(examples, ps, manager));
      }
      for (int step = start.step(); ; step++) {
        boolean stop = StopSignals.requested(); // read once per boundary
        if (listener != null && step > start.step()) {
          try (NativeGate.Section section = NativeGate.enter()) {
            TrainerState state = run.state(step, run.elapsed(), adapters.meters().totals());
            TrainerSnapshot snapshot = new TrainerSnapshot(state, optimizer.state(named));
            if (stop && step < config.steps()) {
              listener.beforeStop(snapshot, result(state, run));
            } else {
              listener.afterStep(snapshot, result(state, run));
            }
          }
        }
        if (step == config.steps()) {
          break;
        }
        if (stop) {
          throw StoppedException.training(step, config.steps(), null);
        }
        StepOutcome outcome;
        try (NativeGate.Section section = NativeGate.enter()) {
          outcome = step(step, run, ps, manager, optimizer);
        }
        if (outcome.applied()) {
          logProgress(step, run, outcome);
        }
      }
    }
    TrainResult result =
        result(run.state(config.steps(), run.elapsed(), adapters.meters().totals()), run);
    warnWhenRowsWereCapped(result);
    return result;
  }

  /** Below this share of the tokens' top-K choices reaching the device, training is warned. */
  static final double KEPT_CHOICES_WARNING = 0.9;

  /**
   * With {@code train-rows capped} the row cap silently drops the choices of a micro-batch whose
   * union of rows exceeds max-rows: training then fits a sparser adapter than the one generation
   * runs (which gives every token its K rows), and a larger N, whose tokens share fewer rows, loses
   * more (issue 18). {@code train-rows all} keeps every choice.
   */
  private static void warnWhenRowsWereCapped(TrainResult result) {
    RetrievalStats retrieval = result.retrieval();
    if (retrieval != null && retrieval.keptChoiceFraction() < KEPT_CHOICES_WARNING) {
      LOG.warn(
          "meft: only {}% of the tokens' top-K rows reached the device: a micro-batch's tokens"
              + " chose {} distinct rows per layer, capped at {}; --train-rows all (the default)"
              + " trains every choice in groups of at most max-rows rows, or lower --batch-size"
              + " (raising --accumulation) or --top-k until tokens per micro-batch x top-k <="
              + " max-rows",
          Math.round(retrieval.keptChoiceFraction() * 100),
          Math.round(retrieval.meanDistinctRowsPerLayer()),
          Math.round(result.meanRowsPerLayer()));
    }
  }

  /**
   * The counters of one {@link #train} call as it goes: a mutable {@link TrainerState}, plus the
   * phase times of this call's steps.
   */
  private static final class Counters {
    final TrainerState start;
    final DataOrder order;
    final List<Float> losses;
    int skipped;
    int badInARow;
    long tokens;
    int optimizerStep;
    long deviceNanos;
    long updateNanos;
    final long begin;

    Counters(TrainerState start, DataOrder order) {
      this.start = start;
      this.order = order;
      order.skip(start.examplesDrawn());
      losses = new ArrayList<>(start.losses());
      skipped = start.skippedSteps();
      badInARow = start.badInARow();
      tokens = start.tokens();
      optimizerStep = start.optimizerStep();
      begin = System.nanoTime();
    }

    long elapsed() {
      return System.nanoTime() - begin;
    }

    /** Tokens processed by this call. */
    long tokensThisCall() {
      return tokens - start.tokens();
    }

    /**
     * The trainer's state after {@code steps} steps, {@code elapsed} nanoseconds into this call,
     * with the adapters' meters over the whole run.
     */
    TrainerState state(int steps, long elapsed, MeterTotals meters) {
      return new TrainerState(
          steps,
          order.drawn(),
          skipped,
          badInARow,
          tokens,
          start.trainNanos() + elapsed,
          optimizerStep,
          losses,
          meters);
    }
  }

  /** What one step did: its loss and learning rate, and whether the update was applied. */
  /**
   * Examples whose tokens adapters that start from the data see, at most: tens of thousands of
   * tokens, enough for every expert's cluster, in seconds of forward passes.
   */
  static final int INITIALISATION_EXAMPLES = 2048;

  private record StepOutcome(double loss, float lr, boolean applied) {}

  /**
   * One optimizer step: forward and backward over its micro-batches, then the clipped update, or a
   * skip when the loss or the gradient norm is not finite.
   */
  private StepOutcome step(
      int step, Counters run, ParameterStore ps, NDManager manager, DeviceAdamW optimizer) {
    // Seeded per step (dropout), so that a run resumed at any step draws the same numbers.
    Engine.getInstance().setRandomSeed(Long.hashCode(config.seed() * 1_000_003L + step));
    float lr = config.learningRateAt(step);
    AdapterMeters meters = adapters.meters();
    long phasesBefore = adapterNanos(meters);
    long deviceStart = System.nanoTime();
    Pass pass = forwardBackward(step, run.order, ps, manager);
    double loss = pass.loss();
    run.tokens += pass.tokens();
    run.deviceNanos += System.nanoTime() - deviceStart - (adapterNanos(meters) - phasesBefore);

    List<Parameter> parameters = adapters.deviceParameters();
    HostStore store = adapters.store();
    double deviceNorm = squaredNorm(parameters);
    double hostNorm = store == null ? 0 : store.gradientSquaredNorm();
    double squaredNorm = deviceNorm + hostNorm;
    if (!Double.isFinite(loss) || !Double.isFinite(squaredNorm)) {
      skip(step, run, parameters, loss, deviceNorm, hostNorm);
      return new StepOutcome(loss, lr, false);
    }
    run.badInARow = 0;
    run.losses.add((float) loss);
    long updateStart = System.nanoTime();
    update(parameters, store, Math.sqrt(squaredNorm), step, lr, optimizer);
    run.optimizerStep = optimizer.stepCount();
    run.updateNanos += System.nanoTime() - updateStart;
    return new StepOutcome(loss, lr, true);
  }

  /**
   * Drops a step's gradients (its loss is NaN in the record); too many such steps in a row stop the
   * run.
   */
  private void skip(
      int step,
      Counters run,
      List<Parameter> parameters,
      double loss,
      double deviceNorm,
      double hostNorm) {
    LOG.warn(
        "step {} skipped: loss {}, squared gradient norm {} on the device, {} on the host",
        step + 1,
        loss,
        deviceNorm,
        hostNorm);
    zeroGradients(parameters);
    adapters.discardGradients();
    run.losses.add(Float.NaN);
    run.skipped++;
    if (++run.badInARow >= config.maxBadSteps()) {
      throw new IllegalStateException(
          "training diverged: "
              + run.badInARow
              + " steps in a row had a non-finite loss or gradient (last at step "
              + (step + 1)
              + "); lower --lr or raise --"
              + TrainConfig.MAX_BAD_STEPS.name());
    }
  }

  /** The summed loss and the tokens of one step's micro-batches. */
  private record Pass(double loss, long tokens) {}

  /**
   * Forward and backward over the step's {@code accumulation} micro-batches, drawn from {@code
   * order}: the device gradients accumulate (a collector does not zero them when opened), the meft
   * row gradients go to the host store; each micro-batch as the run's {@link TrainingStrategy} runs
   * it.
   */
  private Pass forwardBackward(int step, DataOrder order, ParameterStore ps, NDManager manager) {
    double loss = 0;
    long tokens = 0;
    for (int micro = 0; micro < config.accumulation(); micro++) {
      List<TrainingExample> batch = new ArrayList<>();
      for (int i = 0; i < config.batchSize(); i++) {
        batch.add(order.next());
      }
      try (NDManager sub = manager.newSubManager()) {
        Batch b = Batch.of(batch, sub);
        adapters.activeTokens().set(b.positions(), b.inverse(), b.inputs().size());
        // Dropout per micro-batch and branch, so that a recomputed layer replays its masks.
        LayerPass pass =
            LayerPass.of(ps, model.rope(b.inputs(), 0), true)
                .seeded((config.seed() * 1_000_003L + step) * 1_000_003L + micro);
        float microLoss;
        try {
          microLoss = strategy.forwardBackward(pass, b, config.accumulation());
        } finally {
          adapters.activeTokens().clear();
        }
        adapters.collectGradients();
        adapters.meters().endPass();
        loss += microLoss / config.accumulation();
        tokens += b.tokens();
      }
    }
    return new Pass(loss, tokens);
  }

  /**
   * Forward passes without gradient over up to {@link #INITIALISATION_EXAMPLES} training examples
   * (in a seeded order of their own, so the run's order is untouched), for adapters that set
   * themselves up from the tokens they see ({@link InstalledAdapters#initialiseFromTokens}).
   */
  private void observeTokens(List<TrainingExample> examples, ParameterStore ps, NDManager manager) {
    DataOrder order = new DataOrder(examples, config.seed());
    int count = Math.min(examples.size(), INITIALISATION_EXAMPLES);
    for (int first = 0; first < count; first += config.batchSize()) {
      List<TrainingExample> batch = new ArrayList<>();
      for (int i = first; i < Math.min(count, first + config.batchSize()); i++) {
        batch.add(order.next());
      }
      try (NDManager sub = manager.newSubManager()) {
        Batch b = Batch.of(batch, sub);
        adapters.activeTokens().set(b.positions(), b.inverse(), b.inputs().size());
        try {
          model.forward(ps, b.inputs(), null, false).close();
        } finally {
          adapters.activeTokens().clear();
        }
      }
    }
  }

  /**
   * Clips the device and host gradients together to {@code clipNorm} (their joint norm is {@code
   * norm}), then updates: AdamW on the device parameters, the sparse AdamW on the store's touched
   * rows (values at the adapters' value rate); the device gradients are zeroed for the next step
   * (the store zeroes its own).
   */
  private void update(
      List<Parameter> parameters,
      HostStore store,
      double norm,
      int step,
      float lr,
      DeviceAdamW optimizer) {
    if (config.clipNorm() > 0 && norm > config.clipNorm()) {
      float factor = (float) (config.clipNorm() / norm);
      scaleGradients(parameters, factor);
      if (store != null) {
        store.scaleGradients(factor);
      }
    }
    optimizer.step(parameters, lr, config);
    if (store != null) {
      store.applyAdamW(
          adapters.storeRate(),
          lr,
          config.learningRate(),
          step + 1,
          config.beta1(),
          config.beta2(),
          config.eps(),
          config.weightDecay());
    }
    zeroGradients(parameters);
  }

  /**
   * The metrics at {@code state}, the run's state during this call. Losses, tokens per second,
   * bytes moved per step, rows per layer and the device peak cover the whole run (a resumed process
   * carries them from the checkpoint's trainer state, so they equal the uninterrupted run's); phase
   * times are per step of this call (a speed of this process).
   */
  private TrainResult result(TrainerState state, Counters run) {
    AdapterMeters meters = adapters.meters();
    HostStore store = adapters.store();
    int stepsThisCall = Math.max(1, state.step() - run.start.step());
    int steps = Math.max(1, state.step());
    Map<String, Double> phaseMs = new LinkedHashMap<>();
    meters.phaseNanos().forEach((phase, nanos) -> phaseMs.put(phase, nanos / 1e6 / stepsThisCall));
    phaseMs.put("device_forward_backward", run.deviceNanos / 1e6 / stepsThisCall);
    phaseMs.put("host_update", run.updateNanos / 1e6 / stepsThisCall);
    MeterTotals totals = state.meters();
    double seconds = state.trainNanos() / 1e9;
    return new TrainResult(
        adapters.config().method().name(),
        state.losses(),
        state.step(),
        state.skippedSteps(),
        seconds == 0 ? 0 : state.tokens() / seconds,
        adapters.trainableParameters(),
        totals.deviceBytesPeak(),
        model.weightBytes(),
        store == null ? 0 : store.bytes(),
        store == null ? 0 : store.gradientBytes(),
        (double) totals.hostToDeviceBytes() / steps,
        (double) totals.deviceToHostBytes() / steps,
        totals.layerPasses() == 0 ? 0 : (double) totals.rowsMoved() / totals.layerPasses(),
        RetrievalStats.of(meters, store),
        phaseMs,
        0);
  }

  /** Mean of -log p(target) over the positions where mask is 1. logits [B, T, V]. */
  static NDArray maskedCrossEntropy(NDArray logits, NDArray targets, NDArray mask) {
    NDArray picked = logits.logSoftmax(-1).gather(targets.expandDims(-1), -1).squeeze(-1);
    return picked.mul(mask).sum().neg().div(mask.sum());
  }

  private static long adapterNanos(AdapterMeters meters) {
    return meters.phaseNanos().values().stream().mapToLong(Long::longValue).sum();
  }

  private static double squaredNorm(List<Parameter> parameters) {
    double sum = 0;
    for (Parameter parameter : parameters) {
      try (NDScope scope = new NDScope()) {
        scope.suppressNotUsedWarning();
        sum += parameter.getArray().getGradient().square().sum().getFloat();
      }
    }
    return sum;
  }

  private static void scaleGradients(List<Parameter> parameters, float factor) {
    for (Parameter parameter : parameters) {
      try (NDArray gradient = parameter.getArray().getGradient()) {
        gradient.muli(factor);
      }
    }
  }

  private static void zeroGradients(List<Parameter> parameters) {
    for (Parameter parameter : parameters) {
      // Index assignment copies (NDArray.set(float[]) would alias a temporary buffer); the scope
      // frees the scalar it creates in the parameter's long-lived manager.
      try (NDScope scope = new NDScope();
          NDArray gradient = parameter.getArray().getGradient()) {
        scope.suppressNotUsedWarning();
        gradient.set(new NDIndex("..."), 0);
      }
    }
  }

  private void logProgress(int step, Counters run, StepOutcome outcome) {
    int done = step + 1;
    if (progress == null
        || config.logEvery() == 0
        || (done % config.logEvery() != 0 && done != config.steps())) {
      return;
    }
    double elapsed = run.elapsed() / 1e9;
    long eta = Math.round(elapsed / (done - run.start.step()) * (config.steps() - done));
    progress.printf(
        "step %d/%d  loss %.4f  lr %.2e  %.0f tokens/s  ETA %d:%02d%n",
        done,
        config.steps(),
        outcome.loss(),
        outcome.lr(),
        run.tokensThisCall() / elapsed,
        eta / 60,
        eta % 60);
  }

  /**
   * A padded micro-batch: inputs = tokens[:-1], targets = tokens[1:], mask on target positions;
   * positions [M] the flat indices of the real (unpadded) inputs, inverse [B*T] their rows in it.
   */
  record Batch(
      NDArray inputs,
      NDArray targets,
      NDArray mask,
      NDArray positions,
      NDArray inverse,
      long tokens) {
    static Batch of(List<TrainingExample> examples, NDManager manager) {
      int length = 0;
      for (TrainingExample example : examples) {
        length = Math.max(length, example.tokens().length - 1);
      }
      int b = examples.size();
      long[] inputs = new long[b * length];
      long[] targets = new long[b * length];
      float[] mask = new float[b * length];
      boolean[] real = new boolean[b * length];
      long count = 0;
      for (int i = 0; i < b; i++) {
        long[] tokens = examples.get(i).tokens();
        boolean[] lossMask = examples.get(i).lossMask();
        for (int t = 0; t + 1 < tokens.length; t++) {
          inputs[i * length + t] = tokens[t];
          targets[i * length + t] = tokens[t + 1];
          mask[i * length + t] = lossMask[t + 1] ? 1 : 0;
          real[i * length + t] = true;
        }
        count += tokens.length - 1;
      }
      Shape shape = new Shape(b, length);
      long[][] active = ActiveTokens.indices(real);
      return new Batch(
          manager.create(inputs, shape),
          manager.create(targets, shape),
          manager.create(mask, shape),
          manager.create(active[0]),
          manager.create(active[1]),
          count);
    }
  }
}
