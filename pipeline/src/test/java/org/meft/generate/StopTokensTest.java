package org.meft.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.meft.load.HuggingFaceCheckpoint;
import org.meft.load.RandomLlama;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.testing.Shared;

/**
 * Generation stops at EOS, BOS, and at the tokens whose head rows the head cannot tell from EOS's;
 * a base with distinct rows (a random one) has none of those.
 */
class StopTokensTest {
  private static final LlamaConfig SHAPE = LlamaConfig.of(32, 64, 2, 4, 2, 64, 24);

  @Test
  void aRandomHeadHasOnlyBosAndEos() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama model = RandomLlama.create(SHAPE, 2, manager, DataType.FLOAT32);
      assertEquals(Set.of(1L, 2L), StopTokens.of(model));
    }
  }

  @Test
  void rowsWithinTheToleranceOfEosStopAndRowsBeyondItDoNot() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama model = RandomLlama.create(SHAPE, 2, manager, DataType.FLOAT32);
      NDArray head = model.headWeight().getArray();
      NDArray eos = head.get(2);
      float length = eos.norm().getFloat();
      // Moved by 0.5 and by 2 tolerances (relative L2) along one axis.
      setRow(head, 7, eos, 0.5 * StopTokens.ALIAS_TOLERANCE * length);
      setRow(head, 9, eos, 0.5 * StopTokens.ALIAS_TOLERANCE * length);
      setRow(head, 11, eos, 2 * StopTokens.ALIAS_TOLERANCE * length);
      assertEquals(new TreeSet<>(Set.of(1L, 2L, 7L, 9L)), StopTokens.of(model));
    }
  }

  @Test
  void greedyDecodingStopsAtAnAliasOfEos() {
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama model = RandomLlama.create(SHAPE, 2, manager, DataType.FLOAT32);
      long[] prompt = {1, 5, 6};
      long[] free = Generator.generate(model, manager, prompt, 12, Sampler.greedy()).newIds();
      assertEquals(12, free.length);
      // The first token that is not the first one, or else the first (this random model may repeat
      // one token): its row becomes EOS's, moved within the tolerance, and decoding stops there.
      int j = 1;
      while (j < free.length && free[j] == free[0]) {
        j++;
      }
      j = j == free.length ? 0 : j;
      NDArray head = model.headWeight().getArray();
      NDArray eos = head.get(2);
      setRow(head, free[j], eos, 0.5 * StopTokens.ALIAS_TOLERANCE * eos.norm().getFloat());
      Generator.Generation stopped =
          Generator.generate(model, manager, prompt, 12, Sampler.greedy());
      assertEquals(Generator.StopReason.STOP_TOKEN, stopped.stopReason());
      assertArrayEquals(Arrays.copyOf(free, j), stopped.newIds());
    }
  }

  @Test
  void stories260KsEosHas168Aliases() {
    Path folder = Shared.require("models/stories260K-hf");
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama model = HuggingFaceCheckpoint.load(folder, manager, DataType.FLOAT32);
      // EOS and BOS, and the 168 byte tokens llama2.c's TinyStories data never holds.
      assertEquals(170, StopTokens.of(model).size());
    }
  }

  private static void setRow(NDArray head, long row, NDArray eos, double distance) {
    NDArray moved = eos.duplicate();
    moved.set(new NDIndex(0), eos.getFloat(0) + (float) distance);
    head.set(new NDIndex(row), moved);
  }
}
