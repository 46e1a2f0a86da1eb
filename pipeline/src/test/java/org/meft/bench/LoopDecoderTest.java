package org.meft.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.meft.generate.Generator;
import org.meft.generate.Sampler;
import org.meft.load.LanguageModel;
import org.meft.load.RandomLlama;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.testing.Shared;

/**
 * The bench's plain-loop decoder and the engine's batched decoding are two implementations of one
 * greedy decoding: the same new tokens for every prompt, on the real stories260K (tied head,
 * grouped-query attention) and on a random model with its own head, prompts running into the last
 * position included.
 */
class LoopDecoderTest {

  @Test
  void storiesTokensEqualTheEngines() throws Exception {
    Path folder = Shared.require("models/stories260K-hf");
    try (LanguageModel model = LanguageModel.load(folder, null)) {
      List<long[]> prompts = new ArrayList<>(DecodeBench.prompts(model.config(), 32));
      long[] text = model.tokenizer().encode("Once upon a time");
      long[] golden = new long[text.length + 1]; // the golden generation's prompt
      golden[0] = model.config().bosId();
      System.arraycopy(text, 0, golden, 1, text.length);
      prompts.add(golden);
      assertSameTokens(model.llama(), model.manager(), prompts, 64);
    }
  }

  @Test
  void randomUntiedModelTokensEqualTheEngines() {
    LlamaConfig shape = LlamaConfig.of(48, 96, 3, 6, 2, 96, 64).withTiedEmbeddings(false);
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama model = RandomLlama.create(shape, 31, manager, DataType.FLOAT32);
      List<long[]> prompts = new ArrayList<>(DecodeBench.prompts(shape, 6));
      long[] nearTheEnd = new long[60]; // 4 positions left for 24 new tokens
      for (int i = 0; i < nearTheEnd.length; i++) {
        nearTheEnd[i] = i == 0 ? shape.bosId() : 3 + (i * 7) % 90;
      }
      prompts.add(nearTheEnd);
      assertSameTokens(model, manager, prompts, 24);
    }
  }

  private static void assertSameTokens(
      Llama model, NDManager manager, List<long[]> prompts, int newTokens) {
    List<Generator.Generation> engine =
        Generator.generateBatch(
            model,
            manager,
            prompts,
            newTokens,
            new ArrayList<>(Collections.nCopies(prompts.size(), Sampler.greedy())));
    LoopDecoder loops = new LoopDecoder(model);
    int generated = 0;
    for (int i = 0; i < prompts.size(); i++) {
      long[] expected = engine.get(i).newIds();
      assertArrayEquals(expected, loops.greedy(prompts.get(i), newTokens), "prompt " + i);
      generated += expected.length;
    }
    assertTrue(generated > prompts.size(), "the prompts generated " + generated + " tokens");
  }
}
