package org.meft.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import org.junit.jupiter.api.Test;
import org.meft.load.RandomLlama;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;

class GeneratorTest {
  private static final LlamaConfig SHAPE = LlamaConfig.of(32, 64, 2, 4, 2, 64, 24);

  @Test
  void repeatedGenerationLeavesNoArraysBehind() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama model = RandomLlama.create(SHAPE, 2, manager, DataType.FLOAT32);
      int before = manager.getManagedArrays().size();
      long[] first = null;
      for (int i = 0; i < 5; i++) {
        long[] ids =
            Generator.generate(model, manager, new long[] {1, 5, 6}, 10, Sampler.greedy()).newIds();
        if (first == null) {
          first = ids;
        }
        assertArrayEquals(first, ids);
        assertEquals(
            before, manager.getManagedArrays().size(), "arrays left after generation " + i);
      }
    }
  }

  @Test
  void generationStopsAtTheModelsLengthOrAtAStopToken() {
    try (NDManager manager = NDManager.newBaseManager()) {
      for (long seed = 1; seed <= 6; seed++) {
        Llama model = RandomLlama.create(SHAPE, seed, manager, DataType.FLOAT32);
        Generator.Generation generation =
            Generator.generate(
                model, manager, new long[] {1, 5, 6, 7}, 100, Sampler.random(1.5f, 1, seed));
        int length = generation.allIds().length;
        switch (generation.stopReason()) {
          case MODEL_LENGTH -> assertEquals(SHAPE.maxSeqLen(), length);
          case STOP_TOKEN -> assertTrue(length < SHAPE.maxSeqLen());
          case MAX_NEW_TOKENS ->
              throw new AssertionError("100 new tokens cannot fit in 24 positions");
        }
        for (long id : generation.newIds()) {
          assertTrue(id != 1 && id != 2, "a stop token was emitted as text");
        }
      }
      Llama model = RandomLlama.create(SHAPE, 1, manager, DataType.FLOAT32);
      Generator.Generation short_ =
          Generator.generate(model, manager, new long[] {1, 5}, 0, Sampler.greedy());
      assertEquals(Generator.StopReason.MAX_NEW_TOKENS, short_.stopReason());
      assertEquals(0, short_.newIds().length);
    }
  }

  @Test
  void invalidRequestsAreRefused() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama model = RandomLlama.create(SHAPE, 2, manager, DataType.FLOAT32);
      assertThrows(
          IllegalArgumentException.class,
          () -> Generator.generate(model, manager, new long[0], 3, Sampler.greedy()));
      assertThrows(
          IllegalArgumentException.class,
          () -> Generator.generate(model, manager, new long[] {1}, -1, Sampler.greedy()));
    }
  }
}
