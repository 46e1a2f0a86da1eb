package org.meft.adapter.meft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.util.Arrays;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.meft.adapter.InstalledAdapters;
import org.meft.adapter.LayerSelection;
import org.meft.load.RandomLlama;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.store.StoreDtype;
import org.meft.store.StoreMoments;
import org.meft.store.StoreRate;
import org.meft.testing.AdapterValues;

/**
 * In inference a pass of many tokens goes to the device in groups of maxRows / K tokens, while the
 * host retrieves for thousands of them in one call: the output equals, bit for bit, each group's
 * output computed alone (one routing, retrieval and device pass per group), over two retrieval
 * calls and a short last group.
 */
class MeftInferenceGroupsTest {
  private static final int DIM = 32;

  @Test
  void manyGroupsEqualEachGroupAlone() {
    LlamaConfig shape = LlamaConfig.of(DIM, 64, 1, 4, 2, 64, 32);
    // K = 4 and maxRows = 8: groups of two tokens; 64 rows in 8 experts, 2 probed.
    MeftConfig config =
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
            LayerSelection.ALL);
    int tokens = MeftAdapter.RETRIEVAL_TOKENS + 5;
    int group = config.maxRows() / config.topK();
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(shape, 3, manager, DataType.FLOAT32);
      try (InstalledAdapters installed =
          InstalledAdapters.install(model, config, manager, allocator, 5)) {
        AdapterValues.nonZero(installed, 0.1f);
        MeftAdapter adapter = installed.adapters(MeftAdapters.class).adapter(0);
        ParameterStore ps = new ParameterStore(manager, false);
        Random random = new Random(11);
        float[] hidden = new float[tokens * DIM];
        for (int i = 0; i < hidden.length; i++) {
          hidden[i] = (float) random.nextGaussian();
        }
        float[] together =
            adapter
                .forward(ps, manager.create(hidden, new Shape(1, tokens, DIM)), false)
                .toFloatArray();
        double total = 0;
        for (float v : together) {
          total += Math.abs(v);
        }
        assertTrue(total > 0, "the adapter adds nothing");
        for (int start = 0; start < tokens; start += group) {
          int end = Math.min(start + group, tokens);
          float[] part = Arrays.copyOfRange(hidden, start * DIM, end * DIM);
          float[] alone =
              adapter
                  .forward(ps, manager.create(part, new Shape(1, end - start, DIM)), false)
                  .toFloatArray();
          assertArrayEquals(
              alone,
              Arrays.copyOfRange(together, start * DIM, end * DIM),
              "tokens " + start + " to " + end);
        }
      }
    }
  }
}
