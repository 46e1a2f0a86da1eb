package org.meft.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.InstalledAdapters;
import org.meft.adapter.LayerSelection;
import org.meft.adapter.lora.LoraConfig;
import org.meft.adapter.meft.KeySource;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.meft.TrainRows;
import org.meft.load.RandomLlama;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.store.StoreDtype;
import org.meft.store.StoreMoments;
import org.meft.store.StoreRate;
import org.meft.testing.AdapterValues;

/**
 * Batched decoding (left padding, per-sequence positions, a pad mask, finished sequences leaving
 * the batch) gives, token for token, what decoding each prompt alone gives: greedy and sampled, for
 * the base model and with adapters installed.
 */
class BatchedGenerationTest {
  // A short model length, so that some prompts end at it; 64 prompts of 1 to 20 tokens.
  private static final LlamaConfig SHAPE = LlamaConfig.of(32, 64, 2, 4, 2, 64, 24);
  private static final int PROMPTS = 64;
  private static final int SAMPLED_PROMPTS = 16;
  private static final int NEW_TOKENS = 6;

  @Test
  void batchedGreedyEqualsOneAtATimeForTheBaseModel() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama model = RandomLlama.create(SHAPE, 7, manager, DataType.FLOAT32);
      assertBatchedEqualsSingle(model, manager, greedy(PROMPTS), "base");
    }
  }

  @Test
  void batchedSamplingEqualsOneAtATimeWithTheSameSeeds() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama model = RandomLlama.create(SHAPE, 8, manager, DataType.FLOAT32);
      List<Sampler> batched = new ArrayList<>();
      List<Sampler> single = new ArrayList<>();
      for (int i = 0; i < SAMPLED_PROMPTS; i++) {
        batched.add(Sampler.random(1.0f, i % 2 == 0 ? 1f : 0.9f, 100 + i));
        single.add(Sampler.random(1.0f, i % 2 == 0 ? 1f : 0.9f, 100 + i));
      }
      assertBatchedEqualsSingle(
          model, manager, prompts().subList(0, SAMPLED_PROMPTS), batched, single, "sampled");
    }
  }

  @Test
  void batchedGreedyEqualsOneAtATimeWithMeftInstalled() {
    // maxRows 8 = two tokens' top-4: the cap binds for any pass of three or more tokens.
    assertWithAdapter(
        new MeftConfig(
            64,
            4,
            8,
            2,
            8,
            0.5f,
            KeySource.RANDOM,
            StoreRate.RUN,
            TrainRows.ALL,
            StoreDtype.F32,
            StoreMoments.F32,
            LayerSelection.ALL),
        "meft");
  }

  @Test
  void batchedGreedyEqualsOneAtATimeWithLoraInstalled() {
    assertWithAdapter(
        new LoraConfig(2, 4f, 0f, Set.of("q", "k", "v", "o", "up"), LayerSelection.ALL), "lora");
  }

  private static void assertWithAdapter(AdapterConfig config, String name) {
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(SHAPE, 9, manager, DataType.FLOAT32);
      try (InstalledAdapters adapters =
          InstalledAdapters.install(model, config, manager, allocator, 5)) {
        AdapterValues.nonZero(adapters, 0.3f);
        assertBatchedEqualsSingle(model, manager, greedy(PROMPTS), name);
      }
    }
  }

  private static void assertBatchedEqualsSingle(
      Llama model, NDManager manager, List<Sampler> samplers, String what) {
    assertBatchedEqualsSingle(model, manager, prompts(), samplers, greedy(PROMPTS), what);
  }

  private static void assertBatchedEqualsSingle(
      Llama model,
      NDManager manager,
      List<long[]> prompts,
      List<Sampler> batchedSamplers,
      List<Sampler> singleSamplers,
      String what) {
    int before = manager.getManagedArrays().size();
    List<Generator.Generation> batched =
        Generator.generateBatch(model, manager, prompts, NEW_TOKENS, batchedSamplers);
    assertEquals(before, manager.getManagedArrays().size(), what + ": arrays left behind");
    Set<Generator.StopReason> reasons = EnumSet.noneOf(Generator.StopReason.class);
    for (int i = 0; i < prompts.size(); i++) {
      Generator.Generation single =
          Generator.generate(model, manager, prompts.get(i), NEW_TOKENS, singleSamplers.get(i));
      assertArrayEquals(single.newIds(), batched.get(i).newIds(), what + ": prompt " + i);
      assertEquals(single.stopReason(), batched.get(i).stopReason(), what + ": prompt " + i);
      assertArrayEquals(prompts.get(i), batched.get(i).promptIds());
      reasons.add(single.stopReason());
    }
    assertTrue(reasons.contains(Generator.StopReason.MODEL_LENGTH), what + ": " + reasons);
    assertTrue(reasons.contains(Generator.StopReason.MAX_NEW_TOKENS), what + ": " + reasons);
  }

  /** 64 prompts of 1 to 20 tokens (BOS first), some longer than the model leaves room for. */
  private static List<long[]> prompts() {
    Random random = new Random(11);
    List<long[]> prompts = new ArrayList<>();
    for (int i = 0; i < PROMPTS; i++) {
      long[] prompt = new long[1 + (i * 7) % 20];
      prompt[0] = SHAPE.bosId();
      for (int j = 1; j < prompt.length; j++) {
        prompt[j] = 3 + random.nextInt(SHAPE.vocabSize() - 3);
      }
      prompts.add(prompt);
    }
    return prompts;
  }

  private static List<Sampler> greedy(int n) {
    List<Sampler> samplers = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      samplers.add(Sampler.greedy());
    }
    return samplers;
  }
}
