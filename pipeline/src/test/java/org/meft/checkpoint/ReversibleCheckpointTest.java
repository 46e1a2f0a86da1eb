package org.meft.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.nio.file.Path;
import java.util.Arrays;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.InstalledAdapters;
import org.meft.generate.Generator;
import org.meft.generate.Sampler;
import org.meft.load.RandomLlama;
import org.meft.model.BaseDtype;
import org.meft.model.KvCache;
import org.meft.model.Llama;
import org.meft.reversible.Architecture;
import org.meft.reversible.ReversibleConfig;
import org.meft.reversible.ReversibleStack;
import org.meft.train.RunSpec;
import org.meft.train.TrainConfig;
import org.meft.train.Trainer;

/**
 * A reversible run's checkpoint: loaded into a fresh copy of the base model, the reversible stack
 * is rebuilt from the manifest with its trained block adapters, so the logits and the greedy
 * generation are those of the trained model; and generation (the same forward, with the KV cache)
 * gives, token by token, the logits of the training forward over the whole sequence.
 */
class ReversibleCheckpointTest {
  private static final long[] PROMPT = {1, 9, 17, 4, 33, 12, 40};

  @TempDir Path dir;

  @ParameterizedTest(name = "{0} with {1}")
  @CsvSource({"meft1, meft", "meft2, parallel", "meft3, lora", "meft1, parallel"})
  void reversibleCheckpointLoadsAndGenerates(String architecture, String method) {
    AdapterConfig adapter = ExactResumeTest.config(method);
    ReversibleConfig reversible = ReversibleConfig.of(Architecture.named(architecture));
    TrainConfig train = TrainConfig.defaults(12, 2, 5e-2f).withReversible(reversible);
    RunSpec spec =
        new RunSpec(
            Path.of("model"),
            null,
            Path.of("data.jsonl"),
            adapter,
            train,
            64L << 20,
            0,
            BaseDtype.F32);
    Path runDir = dir.resolve(architecture + "-" + method);
    float[] trained;
    long[] trainedIds;
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(ExactResumeTest.SHAPE, 1, manager, DataType.FLOAT32);
      String fingerprint = ModelFingerprint.of(model);
      try (InstalledAdapters adapters =
          InstalledAdapters.install(model, adapter, manager, allocator, 5)) {
        ReversibleStack.install(model, reversible, adapters, manager, 5);
        assertNotNull(ReversibleStack.of(model));
        new Trainer(model, adapters, train, null)
            .train(
                ExactResumeTest.examples(),
                manager,
                null,
                (snapshot, soFar) -> {
                  if (snapshot.state().step() == train.steps()) {
                    AdapterCheckpoint.write(
                        runDir, spec, fingerprint, adapters, snapshot, soFar, allocator);
                  }
                });
        trained = logits(model, manager, false);
        trainedIds = generate(model, manager);
        if (!method.equals("lora")) { // LoRA's training forward draws dropout
          assertCachedDecodingEqualsTrainingForward(model, manager);
        }
      }
      assertNull(ReversibleStack.of(model), "closing the adapters takes the stack out");
    }
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(ExactResumeTest.SHAPE, 1, manager, DataType.FLOAT32);
      float[] base = logits(model, manager, false);
      try (InstalledAdapters adapters = AdapterCheckpoint.load(runDir, model, manager, allocator)) {
        assertNotNull(ReversibleStack.of(model), "the manifest's reversible setting is restored");
        assertEquals(reversible, ReversibleStack.of(model).config());
        assertArrayEquals(trained, logits(model, manager, false), 0f, "logits");
        assertArrayEquals(
            trainedIds, generate(model, manager), "generation " + Arrays.toString(trainedIds));
      }
      assertFalse(Arrays.equals(trained, base), "the reversible model is the base model");
    }
  }

  /** Logits of PROMPT [T, V], in a training or an inference forward. */
  private static float[] logits(Llama model, NDManager manager, boolean training) {
    try (NDManager step = manager.newSubManager()) {
      return model
          .forward(
              new ParameterStore(step, false),
              step.create(PROMPT, new Shape(1, PROMPT.length)),
              null,
              training)
          .toFloatArray();
    }
  }

  /** Decoding PROMPT a token at a time with the KV cache gives the training forward's logits. */
  private static void assertCachedDecodingEqualsTrainingForward(Llama model, NDManager manager) {
    float[] full = logits(model, manager, true);
    int vocab = ExactResumeTest.SHAPE.vocabSize();
    try (NDManager step = manager.newSubManager();
        KvCache cache = new KvCache(step, ExactResumeTest.SHAPE.nLayers())) {
      ParameterStore ps = new ParameterStore(step, false);
      for (int t = 0; t < PROMPT.length; t++) {
        NDArray logits =
            model.forward(ps, step.create(new long[] {PROMPT[t]}, new Shape(1, 1)), cache, false);
        float[] cached = logits.toFloatArray();
        for (int v = 0; v < vocab; v++) {
          float expected = full[t * vocab + v];
          assertTrue(
              Math.abs(expected - cached[v]) <= 1e-4f * Math.max(1, Math.abs(expected)),
              "position " + t + " token " + v + ": " + cached[v] + " against " + expected);
        }
      }
    }
  }

  private static long[] generate(Llama model, NDManager manager) {
    return Generator.generate(model, manager, PROMPT, 12, Sampler.greedy()).newIds();
  }
}
