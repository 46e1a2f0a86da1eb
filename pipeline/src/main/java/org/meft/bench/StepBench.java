package org.meft.bench;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.apache.arrow.memory.BufferAllocator;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.AdapterSettings;
import org.meft.adapter.InstalledAdapters;
import org.meft.adapter.LayerSelection;
import org.meft.adapter.lora.LoraConfig;
import org.meft.adapter.meft.KeySource;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.meft.TrainRows;
import org.meft.adapter.parallel.ParallelConfig;
import org.meft.load.RandomLlama;
import org.meft.model.Llama;
import org.meft.reversible.Architecture;
import org.meft.reversible.ReversibleConfig;
import org.meft.reversible.ReversibleStack;
import org.meft.store.StoreDtype;
import org.meft.store.StoreMoments;
import org.meft.store.StoreRate;
import org.meft.train.TrainConfig;
import org.meft.train.TrainResult;
import org.meft.train.Trainer;
import org.meft.train.TrainingExample;

/**
 * End-to-end training steps, side by side in one process on one random LLaMA: lora, then meft and
 * parallel at every adapter size, then meft at the smallest size with reversible layers ({@code
 * meft+meft1}, {@code meft+meft2}, {@code meft+meft3}). Each configuration runs the product's own
 * {@link Trainer} for warm-up plus timed steps, with a progress line per step feeding a {@link
 * StepClock}.
 */
public final class StepBench {
  private static final long SEED = 42;
  private static final float KEY_INIT = 0.02f;

  private StepBench() {}

  /** Told before and after each configuration (the device checks sample memory with it). */
  public interface Observer {
    void before(AdapterConfig adapter);

    void after(StepResult result);
  }

  private static final Observer NONE =
      new Observer() {
        @Override
        public void before(AdapterConfig adapter) {}

        @Override
        public void after(StepResult result) {}
      };

  /** Every configuration of {@code config}; a line per configuration goes to {@code log}. */
  public static List<StepResult> run(
      BenchConfig config, NDManager manager, BufferAllocator allocator, PrintStream log) {
    return run(config, DataType.FLOAT32, manager, allocator, log, NONE);
  }

  /**
   * As {@link #run(BenchConfig, NDManager, BufferAllocator, PrintStream)}, with the random model's
   * base weights in {@code baseType} and {@code observer} told around each configuration.
   */
  public static List<StepResult> run(
      BenchConfig config,
      DataType baseType,
      NDManager manager,
      BufferAllocator allocator,
      PrintStream log,
      Observer observer) {
    List<StepResult> results = new ArrayList<>();
    try (NDManager modelManager = manager.newSubManager()) {
      Llama model = RandomLlama.create(config.model(), SEED, modelManager, baseType);
      List<TrainingExample> examples = randomExamples(config);
      for (Variant variant : variants(config)) {
        observer.before(variant.adapter());
        StepResult result =
            measure(
                model,
                variant.adapter(),
                variant.reversible(),
                examples,
                config,
                manager,
                allocator);
        observer.after(result);
        log.printf(
            "bench: %-16s %8.3f s/step (%.3f-%.3f)  %,.0f tokens/s%n",
            result.label(),
            result.step().median(),
            result.step().min(),
            result.step().max(),
            result.tokensPerSecond());
        results.add(result);
      }
    }
    return results;
  }

  /** One configuration: an adapter, with or without reversible layers. */
  record Variant(AdapterConfig adapter, ReversibleConfig reversible) {}

  /**
   * Every adapter of {@link #adapters}, then meft at the smallest size made reversible (all layers)
   * as MEFT1, MEFT2 and MEFT3, beside its ordinary row.
   */
  static List<Variant> variants(BenchConfig config) {
    List<Variant> list = new ArrayList<>();
    List<AdapterConfig> adapters = adapters(config);
    adapters.forEach(a -> list.add(new Variant(a, ReversibleConfig.NONE)));
    AdapterConfig meft =
        adapters.stream().filter(a -> a instanceof MeftConfig).findFirst().orElseThrow();
    for (Architecture architecture : Architecture.values()) {
      list.add(new Variant(meft, ReversibleConfig.of(architecture)));
    }
    return list;
  }

  /**
   * lora, meft at every size, parallel at every size. meft trains with {@code train-rows capped}:
   * the bench's targets are about that bound (device and bus bytes flat in N, maxRows rows a
   * layer); with {@code all} a layer holds up to (groups x maxRows) rows, as many as its tokens'
   * choices that no other token of their group shares.
   */
  static List<AdapterConfig> adapters(BenchConfig config) {
    List<AdapterConfig> list = new ArrayList<>();
    LayerSelection all = LayerSelection.ALL;
    list.add(
        new LoraConfig(
            config.loraRank(), 2f * config.loraRank(), 0f, Set.of("q", "k", "v", "o"), all));
    for (int n : config.sizes()) {
      list.add(
          new MeftConfig(
              n,
              config.topK(),
              MeftConfig.defaultExperts(n),
              config.probes(),
              Math.min(n, config.maxRows()),
              KEY_INIT,
              KeySource.RANDOM,
              StoreRate.RUN,
              TrainRows.CAPPED,
              StoreDtype.F32,
              StoreMoments.F32,
              all));
    }
    for (int n : config.sizes()) {
      list.add(new ParallelConfig(n, KEY_INIT, all));
    }
    return list;
  }

  private static StepResult measure(
      Llama model,
      AdapterConfig adapter,
      ReversibleConfig reversible,
      List<TrainingExample> examples,
      BenchConfig config,
      NDManager manager,
      BufferAllocator allocator) {
    int steps = config.warmupSteps() + config.timedSteps();
    // Constant learning rate, clipping at 1 as in training runs, a progress line every step.
    TrainConfig train =
        new TrainConfig(
            steps,
            config.batchSize(),
            1,
            1e-3f,
            0,
            1f,
            0f,
            0.9f,
            0.999f,
            1e-8f,
            1f,
            config.seqLen() + 1,
            SEED,
            1,
            5,
            false,
            reversible);
    try (NDManager adapterManager = manager.newSubManager();
        InstalledAdapters installed =
            InstalledAdapters.install(model, adapter, adapterManager, allocator, SEED)) {
      ReversibleStack.install(model, reversible, installed, adapterManager, SEED);
      StepClock clock = new StepClock(installed.meters());
      TrainResult result;
      try (PrintStream progress = new PrintStream(clock, true)) {
        result = new Trainer(model, installed, train, progress).train(examples, adapterManager);
      }
      List<StepClock.Mark> marks = clock.marks();
      if (marks.size() != steps + 1) {
        throw new IllegalStateException(
            "expected a progress line per step, got " + (marks.size() - 1) + " for " + steps);
      }
      List<StepClock.Mark> timed = marks.subList(config.warmupSteps(), marks.size());
      Sample step = Sample.of(deltas(timed, mark -> mark.nanos() / 1e9));
      int adapterSize = adapterSize(adapter);
      return new StepResult(
          reversible.enabled()
              ? adapter.method().name() + "+" + reversible.architecture().flagName()
              : adapter.method().name(),
          adapterSize,
          step,
          config.tokensPerStep() / step.median(),
          result.deviceAdapterBytesPeak(),
          result.hostStoreBytes(),
          mean(deltas(timed, mark -> (double) mark.hostToDevice())),
          mean(deltas(timed, mark -> (double) mark.deviceToHost())),
          result.meanRowsPerLayer(),
          phases(timed),
          result.losses().get(0),
          result.losses().get(result.losses().size() - 1));
    }
  }

  /** Median per step of each adapter phase, and of the rest of the step, in milliseconds. */
  private static Map<String, Double> phases(List<StepClock.Mark> timed) {
    Map<String, Double> ms = new LinkedHashMap<>();
    for (String phase : timed.get(timed.size() - 1).phaseNanos().keySet()) {
      ms.put(
          phase,
          Sample.of(deltas(timed, mark -> mark.phaseNanos().getOrDefault(phase, 0L) / 1e6))
              .median());
    }
    ms.put(
        "rest",
        Sample.of(
                deltas(
                    timed,
                    mark ->
                        mark.nanos() / 1e6
                            - mark.phaseNanos().values().stream().mapToLong(Long::longValue).sum()
                                / 1e6))
            .median());
    return ms;
  }

  private interface Reading {
    double of(StepClock.Mark mark);
  }

  private static double[] deltas(List<StepClock.Mark> marks, Reading reading) {
    double[] out = new double[marks.size() - 1];
    for (int i = 0; i < out.length; i++) {
      out[i] = reading.of(marks.get(i + 1)) - reading.of(marks.get(i));
    }
    return out;
  }

  private static double mean(double[] values) {
    double sum = 0;
    for (double v : values) {
      sum += v;
    }
    return sum / values.length;
  }

  /** N of the FFN adapters (meft, parallel); 0 for the others. */
  private static int adapterSize(AdapterConfig adapter) {
    return Integer.parseInt(
        adapter.settings().getOrDefault(AdapterSettings.ADAPTER_SIZE.name(), "0"));
  }

  /** Batch-size many sequences per step of seqLen + 1 random tokens, the loss on all but BOS. */
  private static List<TrainingExample> randomExamples(BenchConfig config) {
    SplittableRandom random = new SplittableRandom(SEED);
    int count = config.batchSize() * (config.warmupSteps() + config.timedSteps());
    List<TrainingExample> examples = new ArrayList<>();
    for (int e = 0; e < count; e++) {
      long[] tokens = new long[config.seqLen() + 1];
      boolean[] mask = new boolean[tokens.length];
      tokens[0] = config.model().bosId();
      for (int t = 1; t < tokens.length; t++) {
        tokens[t] = 3 + random.nextInt(config.model().vocabSize() - 3);
        mask[t] = true;
      }
      examples.add(new TrainingExample(tokens, mask));
    }
    return examples;
  }
}
