package org.meft.adapter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.meft.adapter.lora.LoraConfig;
import org.meft.adapter.meft.KeySource;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.meft.TrainRows;
import org.meft.adapter.parallel.ParallelConfig;
import org.meft.load.RandomLlama;
import org.meft.model.DecoderLayer;
import org.meft.model.LayerPass;
import org.meft.model.Llama;
import org.meft.model.Rope;
import org.meft.store.HostStore;
import org.meft.store.StoreDtype;
import org.meft.store.StoreMoments;
import org.meft.store.StoreRate;
import org.meft.testing.AdapterValues;
import org.meft.testing.Overwrite;

/**
 * A composed method's adapters add up: in every layer, the composed blocks' change to the base
 * model is the first method's change plus the second's, each computed alone with the same values
 * (meft's FFN adapter, LoRA's deltas on attention and FFN projections, parallel's FFN adapter); and
 * a composition whose second method cannot install leaves the model as it was.
 */
class ComposedMethodTest {
  private static final MeftConfig MEFT =
      new MeftConfig(
          16,
          3,
          4,
          2,
          8,
          0.5f,
          KeySource.RANDOM,
          StoreRate.RUN,
          TrainRows.ALL,
          StoreDtype.F32,
          StoreMoments.F32,
          LayerSelection.ALL);
  private static final int TOKENS = 6;

  static Stream<Arguments> compositions() {
    return Stream.of(
        Arguments.of(
            "meft+lora",
            new ComposedConfig(
                MEFT,
                new LoraConfig(2, 4f, 0f, Set.of("q", "v", "up", "down"), LayerSelection.ALL))),
        Arguments.of(
            "meft+parallel",
            new ComposedConfig(MEFT, new ParallelConfig(4, 0.5f, LayerSelection.ALL))));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("compositions")
  void eachBlockOfAComposedModelAddsBothMethodsContributions(String name, ComposedConfig config) {
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama base = model(manager);
      Llama composedModel = model(manager);
      Llama firstModel = model(manager);
      Llama secondModel = model(manager);
      try (InstalledAdapters composed = install(composedModel, config, manager, allocator);
          InstalledAdapters first = install(firstModel, config.first(), manager, allocator);
          InstalledAdapters second = install(secondModel, config.second(), manager, allocator)) {
        AdapterValues.nonZero(composed, 0.1f);
        copyValues(composed, first);
        copyValues(composed, second);
        ParameterStore ps = new ParameterStore(manager, false);
        Random random = new Random(9);
        boolean firstChanges = false;
        boolean secondChanges = false;
        for (int layer = 0; layer < base.config().nLayers(); layer++) {
          NDArray x = input(manager, random, base.config().dim());
          for (String block : List.of("attention", "mlp")) {
            NDArray y0 = output(block, base, layer, x, ps);
            NDArray firstChange = output(block, firstModel, layer, x, ps).sub(y0);
            NDArray secondChange = output(block, secondModel, layer, x, ps).sub(y0);
            firstChanges |= firstChange.abs().max().getFloat() > 0;
            secondChanges |= secondChange.abs().max().getFloat() > 0;
            assertClose(
                y0.add(firstChange).add(secondChange).toFloatArray(),
                output(block, composedModel, layer, x, ps).toFloatArray(),
                name + ", layer " + layer + ", " + block + " block");
          }
        }
        assertTrue(firstChanges && secondChanges, name + ": a method changes nothing");
      }
    }
  }

  /** A second method that cannot install (its projection holds a delta) takes the first out. */
  @Test
  void aCompositionThatCannotInstallLeavesTheModelAsItWas() {
    LoraConfig loraOnQ = new LoraConfig(2, 4f, 0f, Set.of("q"), LayerSelection.ALL);
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = model(manager);
      try (InstalledAdapters lora = install(model, loraOnQ, manager, allocator)) {
        AdapterValues.nonZero(lora, 0.1f);
        float[] before = logits(model, manager);
        IllegalStateException e =
            assertThrows(
                IllegalStateException.class,
                () -> install(model, new ComposedConfig(MEFT, loraOnQ), manager, allocator));
        assertTrue(e.getMessage().contains("holds a delta already"), e.getMessage());
        assertArrayEquals(before, logits(model, manager), 0f, "meft left beside the FFN");
        assertEquals(0, allocator.getAllocatedMemory(), "meft's store left allocated");
      }
    }
  }

  // --------------------------------------------------------------------------------- helpers

  private static Llama model(NDManager manager) {
    return RandomLlama.create(
        AdapterMethodTableTest.SHAPE, AdapterMethodTableTest.MODEL_SEED, manager, DataType.FLOAT32);
  }

  private static InstalledAdapters install(
      Llama model, AdapterConfig config, NDManager manager, BufferAllocator allocator) {
    return InstalledAdapters.install(
        model, config, manager, allocator, AdapterMethodTableTest.ADAPTER_SEED);
  }

  /** {@code to}'s device parameters and host rows take {@code from}'s values of the same name. */
  private static void copyValues(InstalledAdapters from, InstalledAdapters to) {
    to.namedDeviceParameters()
        .forEach(
            (name, parameter) ->
                Overwrite.floats(
                    parameter.getArray(),
                    from.namedDeviceParameters().get(name).getArray().toFloatArray()));
    HostStore store = to.store();
    if (store != null) {
      for (int layer = 0; layer < store.layers(); layer++) {
        for (int row = 0; row < store.rows(); row++) {
          store.setKeyRow(layer, row, from.store().keyRow(layer, row));
          store.setValueRow(layer, row, from.store().valueRow(layer, row));
        }
      }
    }
  }

  /** The {@code block} ("attention" or "mlp", each with its residual) of a model layer on x. */
  private static NDArray output(
      String block, Llama model, int layer, NDArray x, ParameterStore ps) {
    DecoderLayer decoderLayer = model.layers().get(layer);
    LayerPass pass = LayerPass.of(ps, Rope.forSequence(x, model.config()), false);
    return block.equals("attention")
        ? decoderLayer.attentionBlock(pass, x)
        : decoderLayer.mlpBlock(pass, x);
  }

  /** x [1, TOKENS, D] ~ N(0, 1). */
  private static NDArray input(NDManager manager, Random random, int dim) {
    float[] values = new float[TOKENS * dim];
    for (int i = 0; i < values.length; i++) {
      values[i] = (float) random.nextGaussian();
    }
    return manager.create(values, new Shape(1, TOKENS, dim));
  }

  private static float[] logits(Llama model, NDManager manager) {
    try (NDManager step = manager.newSubManager()) {
      long[] tokens = {1, 9, 17, 4, 33, 12};
      return model
          .forward(
              new ParameterStore(step, false),
              step.create(tokens, new Shape(1, tokens.length)),
              null,
              false)
          .toFloatArray();
    }
  }

  /** Equal within float32 rounding of the sums, relative to the largest value. */
  private static void assertClose(float[] expected, float[] actual, String what) {
    float scale = 0;
    for (float v : expected) {
      scale = Math.max(scale, Math.abs(v));
    }
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], actual[i], 1e-5f * scale, what + " at " + i);
    }
  }
}
