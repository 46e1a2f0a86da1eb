package org.meft.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.InstalledAdapters;
import org.meft.adapter.parallel.ParallelConfig;
import org.meft.bench.BenchConfig;
import org.meft.load.RandomLlama;
import org.meft.model.Attention;
import org.meft.model.BaseDtype;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.reversible.Architecture;
import org.meft.reversible.ReversibleConfig;
import org.meft.reversible.ReversibleStack;
import org.meft.train.RunSpec;
import org.meft.train.TrainResult;
import org.meft.train.Trainer;
import org.meft.train.TrainingExample;

/**
 * The plan against the meters of real training steps: for configurations that differ in shape,
 * method, layers, batch and accumulation, the planned adapter device bytes at peak and bus bytes
 * per step equal what the meters measured, byte for byte, the host store is exact, and the base
 * weights are the loaded weights' bytes. A meft pass with {@code train-rows all} is planned at its
 * largest groups (tokens that share no rows within a group): the plan equals the meters when every
 * group reaches that (K = max-rows: one token per group, its K rows) and bounds them otherwise.
 */
class MemoryPlanTest {
  private static final LlamaConfig SMALL = LlamaConfig.of(32, 64, 2, 4, 2, 400, 64);
  private static final LlamaConfig WIDER = LlamaConfig.of(48, 128, 3, 4, 4, 300, 64);

  /**
   * One configuration: a model, the run's settings, and one micro-batch's shape; {@code exact} when
   * the pass reaches what the plan counts, else the plan is a bound.
   */
  private record Case(LlamaConfig model, int seqLen, boolean exact, String... settings) {
    Case(LlamaConfig model, int seqLen, String... settings) {
      this(model, seqLen, true, settings);
    }
  }

  @Test
  void planMatchesTheMeters() {
    List<Case> cases =
        List.of(
            new Case(
                SMALL,
                16,
                "method",
                "meft",
                "adapter-size",
                "256",
                "top-k",
                "8",
                "probes",
                "2",
                "max-rows",
                "32",
                "train-rows",
                "capped",
                "store-dtype",
                "bf16",
                "store-moments",
                "int8",
                "batch-size",
                "2"),
            new Case(
                SMALL,
                16,
                "method",
                "meft",
                "adapter-size",
                "256",
                "top-k",
                "8",
                "probes",
                "2",
                "max-rows",
                "32",
                "train-rows",
                "capped",
                "store-moments",
                "int8",
                "key-lr-scale",
                "1",
                "batch-size",
                "2"),
            new Case(
                SMALL,
                16,
                "method",
                "meft",
                "adapter-size",
                "256",
                "top-k",
                "8",
                "probes",
                "2",
                "max-rows",
                "32",
                "train-rows",
                "capped",
                "batch-size",
                "2"),
            new Case(
                SMALL,
                16,
                false,
                "method",
                "meft",
                "adapter-size",
                "256",
                "top-k",
                "8",
                "probes",
                "2",
                "max-rows",
                "32",
                "batch-size",
                "2"),
            new Case(
                SMALL,
                16,
                "method",
                "meft",
                "adapter-size",
                "256",
                "top-k",
                "8",
                "probes",
                "2",
                "max-rows",
                "8",
                "batch-size",
                "2"),
            new Case(
                WIDER,
                24,
                "method",
                "meft",
                "adapter-size",
                "512",
                "top-k",
                "4",
                "probes",
                "3",
                "max-rows",
                "64",
                "train-rows",
                "capped",
                "layers",
                "first:2",
                "batch-size",
                "3",
                "accumulation",
                "2"),
            new Case(SMALL, 16, "method", "parallel", "adapter-size", "128", "batch-size", "2"),
            new Case(
                WIDER,
                16,
                "method",
                "meft",
                "adapter-size",
                "256",
                "top-k",
                "4",
                "max-rows",
                "4",
                "base-dtype",
                "f16",
                "batch-size",
                "2"),
            new Case(
                SMALL,
                16,
                "method",
                "meft",
                "adapter-size",
                "128",
                "top-k",
                "4",
                "max-rows",
                "16",
                "train-rows",
                "capped",
                "recompute-activations",
                "true",
                "batch-size",
                "2"),
            new Case(
                SMALL,
                16,
                "method",
                "meft",
                "adapter-size",
                "128",
                "top-k",
                "4",
                "max-rows",
                "4",
                "recompute-activations",
                "true",
                "batch-size",
                "2"),
            new Case(
                SMALL,
                16,
                "method",
                "parallel",
                "adapter-size",
                "64",
                "recompute-activations",
                "true",
                "base-dtype",
                "f16",
                "batch-size",
                "2"),
            new Case(
                WIDER,
                20,
                "method",
                "lora",
                "lora-rank",
                "4",
                "lora-targets",
                "q,k,v,o,gate,up,down",
                "batch-size",
                "2"),
            new Case(SMALL, 12, "method", "lora", "lora-rank", "8", "batch-size", "4"),
            new Case(
                SMALL,
                16,
                "method",
                "meft+lora",
                "adapter-size",
                "128",
                "top-k",
                "4",
                "max-rows",
                "16",
                "train-rows",
                "capped",
                "lora-rank",
                "4",
                "lora-targets",
                "q,v,up",
                "batch-size",
                "2"),
            new Case(
                SMALL,
                16,
                "method",
                "meft+parallel",
                "adapter-size",
                "128",
                "top-k",
                "4",
                "max-rows",
                "16",
                "train-rows",
                "capped",
                "parallel.adapter-size",
                "32",
                "batch-size",
                "2"),
            new Case(
                SMALL,
                16,
                "method",
                "meft",
                "adapter-size",
                "128",
                "top-k",
                "4",
                "max-rows",
                "16",
                "train-rows",
                "capped",
                "reversible",
                "meft1",
                "batch-size",
                "2"),
            new Case(
                SMALL,
                16,
                "method",
                "meft",
                "adapter-size",
                "128",
                "top-k",
                "4",
                "max-rows",
                "4",
                "reversible",
                "meft1",
                "batch-size",
                "2"),
            new Case(
                WIDER,
                16,
                "method",
                "parallel",
                "adapter-size",
                "64",
                "reversible",
                "meft3",
                "rev-layers",
                "2",
                "batch-size",
                "2"),
            new Case(
                WIDER,
                16,
                "method",
                "lora",
                "lora-rank",
                "4",
                "reversible",
                "meft2",
                "batch-size",
                "2"));
    for (Case c : cases) {
      Measured m = train(c);
      String what = String.join(" ", c.settings());
      MemoryPlan plan = m.plan();
      System.out.printf(
          "plan vs meters, %s: adapter device %d / %d, h2d %d / %.0f, d2h %d / %.0f, store %d / %d,"
              + " host gradients %d / %d, base weights %d / %d%n",
          what,
          plan.adapterDevicePeakBytes(),
          m.result().deviceAdapterBytesPeak(),
          plan.hostToDeviceBytesPerStep(),
          m.result().hostToDeviceBytesPerStep(),
          plan.deviceToHostBytesPerStep(),
          m.result().deviceToHostBytesPerStep(),
          plan.bytes(MemoryPlan.HOST_STORE),
          m.result().hostStoreBytes(),
          plan.bytes(MemoryPlan.HOST_GRADIENTS),
          m.result().hostGradientBytes(),
          plan.bytes(MemoryPlan.BASE_WEIGHTS),
          m.deviceBaseBytes());
      double device = m.result().deviceAdapterBytesPeak();
      matches(c.exact(), plan.adapterDevicePeakBytes(), device, what + " device");
      double h2d = m.result().hostToDeviceBytesPerStep();
      matches(c.exact(), plan.hostToDeviceBytesPerStep(), h2d, what + " h2d");
      double d2h = m.result().deviceToHostBytesPerStep();
      matches(c.exact(), plan.deviceToHostBytesPerStep(), d2h, what + " d2h");
      assertEquals(m.result().hostStoreBytes(), plan.bytes(MemoryPlan.HOST_STORE), what);
      // Groups of one pass (train-rows all) may choose the same rows: the device holds them once
      // per group, as planned, the stage once; with one group (capped) the stage reaches the plan.
      matches(
          c.exact() && (!what.contains("method meft") || what.contains("capped")),
          plan.bytes(MemoryPlan.HOST_GRADIENTS),
          m.result().hostGradientBytes(),
          what + " host gradients");
      assertEquals(m.deviceBaseBytes(), plan.bytes(MemoryPlan.BASE_WEIGHTS), what);
    }
  }

  @Test
  void baseWeightsFollowTheBaseDtype() {
    RunSpec spec = spec("method", "lora", "batch-size", "1");
    long f32 = plan(SMALL, spec, 8, BaseDtype.F32).bytes(MemoryPlan.BASE_WEIGHTS);
    assertEquals(f32 / 2, plan(SMALL, spec, 8, BaseDtype.F16).bytes(MemoryPlan.BASE_WEIGHTS));
    assertEquals(f32 / 2, plan(SMALL, spec, 8, BaseDtype.BF16).bytes(MemoryPlan.BASE_WEIGHTS));
    assertThrows(IllegalArgumentException.class, () -> plan(SMALL, spec, 8, BaseDtype.AUTO));
  }

  @Test
  void recomputationKeepsLayerInputsAndOneLayer() {
    LlamaConfig c = LlamaConfig.of(64, 128, 8, 4, 4, 100, 128);
    long all = BaseActivations.kept(c, 2, 32, 4, false);
    long kept = BaseActivations.kept(c, 2, 32, 4, true);
    long head = BaseActivations.head(c, 2, 32, 4);
    assertEquals(8 * BaseActivations.perLayer(c, 2, 32, 4) + head, all);
    assertEquals(8L * 4 * 2 * 32 * 64 + BaseActivations.perLayer(c, 2, 32, 4) + head, kept);
  }

  /**
   * At the bench's d = 1024 shape, the base activations a reversible run keeps do not grow with its
   * depth (all layers reversible), while an ordinary run's grow with every layer.
   */
  @Test
  void reversibleActivationsDoNotGrowWithDepth() {
    RunSpec spec = spec("method", "meft", "adapter-size", "4096", "batch-size", "4");
    LlamaConfig c = BenchConfig.full().model();
    for (Architecture a : Architecture.values()) {
      long[] reversible = new long[3];
      long[] ordinary = new long[3];
      int[] depths = {4, 8, 16};
      for (int i = 0; i < depths.length; i++) {
        LlamaConfig deep =
            LlamaConfig.of(
                c.dim(), c.hiddenDim(), depths[i], c.nHeads(), c.nKvHeads(), c.vocabSize(), 256);
        PlanInputs in =
            new PlanInputs(
                deep, spec.adapter(), 4, 256, 1, false, BaseDtype.F32, ReversibleConfig.NONE);
        ordinary[i] = MemoryPlan.of(in).bytes(MemoryPlan.ACTIVATIONS);
        reversible[i] =
            MemoryPlan.of(in.withReversible(ReversibleConfig.of(a))).bytes(MemoryPlan.ACTIVATIONS);
        // The ordinary plan is the sum of what each layer keeps: one more layer, one more set.
        assertEquals(
            BaseActivations.head(deep, 4, 256, 4)
                + depths[i] * BaseActivations.perLayer(deep, 4, 256, 4),
            ordinary[i]);
      }
      assertTrue(reversible[2] <= 1.1 * reversible[0], a + ": " + Arrays.toString(reversible));
      assertTrue(ordinary[2] >= 3.5 * ordinary[0], Arrays.toString(ordinary));
      assertTrue(reversible[0] < ordinary[0], a + " keeps less than the ordinary run at 4 layers");
    }
  }

  @Test
  void decodeBatchIsWhatTheMemoryLeftHoldsOfFullLengthKvCaches() {
    // SMALL: 2 layers, 4 heads, 2 KV heads of 8, 64 positions, vocabulary 400; f32. KV caches,
    // logits, and the prompt's FFN-wide and model-wide activations in one layer.
    long perSequence =
        2L * 2 * 64 * (2 * 8) * 4 + 400 * 4 + 64L * (3 * SMALL.hiddenDim() + 6 * SMALL.dim()) * 4;
    assertEquals(perSequence, DecodeBatch.bytesPerSequence(SMALL, 4));
    RunSpec spec = spec("method", "meft", "adapter-size", "4096", "batch-size", "2");
    MemoryPlan plan =
        MemoryPlan.of(
            new PlanInputs(
                SMALL, spec.adapter(), 2, 16, 1, false, BaseDtype.F32, ReversibleConfig.NONE));
    long resident =
        plan.bytes(MemoryPlan.BASE_WEIGHTS)
            + plan.bytes(MemoryPlan.ADAPTER_PARAMETERS)
            + plan.bytes(MemoryPlan.ADAPTER_ROWS) / SMALL.nLayers() // one layer's at a time
            + 3 * Attention.SCORE_CHUNK_BYTES;
    assertEquals(5, DecodeBatch.of(plan, resident + 5 * perSequence + perSequence - 1));
    assertEquals(1, DecodeBatch.of(plan, resident + 10), "at least one sequence");
    assertEquals(DecodeBatch.MAX, DecodeBatch.of(plan, Long.MAX_VALUE / 2));
  }

  /** The size search of a composition sizes its first method and leaves the second as it is. */
  @ParameterizedTest
  @ValueSource(strings = {"parallel", "parallel+lora"})
  void largestSizeIsTheLastThatFits(String method) {
    RunSpec spec = spec("method", method, "adapter-size", "4096", "batch-size", "2");
    PlanInputs in =
        new PlanInputs(
            SMALL, spec.adapter(), 2, 16, 1, false, BaseDtype.F32, ReversibleConfig.NONE);
    long limit = MemoryPlan.of(in).deviceBytes() / 2;
    OptionalInt largest = PlanLimits.largestSizeForDevice(in, limit);
    assertTrue(largest.isPresent());
    int n = largest.getAsInt();
    assertTrue(
        MemoryPlan.of(in.withAdapter(AdapterSize.resized(in.adapter(), n))).deviceBytes() <= limit);
    assertTrue(
        MemoryPlan.of(in.withAdapter(AdapterSize.resized(in.adapter(), n + 1))).deviceBytes()
            > limit);
    PlanRefusedException refused =
        assertThrows(
            PlanRefusedException.class, () -> new PlanLimits(limit, 0, 0).check(MemoryPlan.of(in)));
    assertTrue(
        refused.getMessage().contains("the largest adapter-size that fits is " + n),
        refused.getMessage());
    AdapterConfig resized = AdapterSize.resized(in.adapter(), n);
    assertEquals(n, ((ParallelConfig) resized.parts().get(0)).adapterSize());
    List<AdapterConfig> before = in.adapter().parts();
    assertEquals(before.subList(1, before.size()), resized.parts().subList(1, before.size()));
  }

  private record Measured(MemoryPlan plan, TrainResult result, long deviceBaseBytes) {}

  private static Measured train(Case c) {
    RunSpec spec = spec(c.settings());
    int b = spec.train().batchSize();
    BaseDtype dtype = spec.baseDtype().resolve(false, null);
    MemoryPlan plan =
        MemoryPlan.of(
            new PlanInputs(
                c.model(),
                spec.adapter(),
                b,
                c.seqLen(),
                spec.train().accumulation(),
                spec.train().recomputeActivations(),
                dtype,
                spec.train().reversible()));
    List<TrainingExample> examples = new ArrayList<>();
    Random random = new Random(3);
    for (int i = 0; i < 2 * b * spec.train().accumulation(); i++) {
      long[] tokens = new long[c.seqLen() + 1]; // T inputs, all real: no padding
      boolean[] mask = new boolean[tokens.length];
      for (int t = 0; t < tokens.length; t++) {
        tokens[t] = 3 + random.nextInt(c.model().vocabSize() - 3);
        mask[t] = t > tokens.length / 2;
      }
      examples.add(new TrainingExample(tokens, mask));
    }
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(1L << 30)) {
      Llama model = RandomLlama.create(c.model(), 11, manager, dtype.dataType());
      try (InstalledAdapters adapters =
          InstalledAdapters.install(model, spec.adapter(), manager, allocator, 5)) {
        ReversibleStack.install(model, spec.train().reversible(), adapters, manager, 5);
        TrainResult result =
            new Trainer(model, adapters, spec.train(), null).train(examples, manager);
        return new Measured(plan, result, result.deviceBaseBytes());
      }
    }
  }

  private static MemoryPlan plan(LlamaConfig model, RunSpec spec, int seqLen, BaseDtype dtype) {
    return MemoryPlan.of(
        new PlanInputs(
            model,
            spec.adapter(),
            spec.train().batchSize(),
            seqLen,
            spec.train().accumulation(),
            false,
            dtype,
            ReversibleConfig.NONE));
  }

  private static RunSpec spec(String... settings) {
    Map<String, String> map = new HashMap<>();
    map.put("model", "unused");
    map.put("data", "unused");
    map.put("steps", "2");
    map.put("lr", "1e-2");
    for (int i = 0; i < settings.length; i += 2) {
      map.put(settings[i], settings[i + 1]);
    }
    return RunSpec.fromSettings(map);
  }

  /** The planned bytes equal the measured ones when {@code exact}, else bound them. */
  private static void matches(boolean exact, double planned, double measured, String what) {
    if (exact) {
      assertEquals(planned, measured, what);
    } else {
      assertTrue(
          planned >= measured && measured > 0,
          what + ": planned " + planned + ", measured " + measured);
    }
  }
}
