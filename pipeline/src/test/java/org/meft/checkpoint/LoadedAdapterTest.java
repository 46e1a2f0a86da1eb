package org.meft.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.InstalledAdapters;
import org.meft.format.CheckpointException;
import org.meft.generate.Generator;
import org.meft.generate.Sampler;
import org.meft.load.RandomLlama;
import org.meft.model.Llama;
import org.meft.train.TrainConfig;
import org.meft.train.Trainer;
import org.meft.train.TrainingExample;

/**
 * A checkpoint loaded into a fresh copy of the base model computes exactly the logits of the model
 * it was written from, and changes generation; a checkpoint that does not fit is refused naming its
 * file.
 */
class LoadedAdapterTest {
  private static final long[] PROMPT = {1, 9, 17, 4, 33, 12, 40};

  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(strings = {"meft", "parallel", "lora", "full"})
  void loadedAdapterComputesTheTrainedModelsLogits(String method) {
    AdapterConfig adapter = ExactResumeTest.config(method);
    Path runDir = dir.resolve(method);
    float[] trained;
    long[] trainedIds;
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(ExactResumeTest.SHAPE, 1, manager, DataType.FLOAT32);
      String fingerprint = ModelFingerprint.of(model);
      TrainConfig train = TrainConfig.defaults(25, 2, 5e-2f);
      try (InstalledAdapters adapters =
          InstalledAdapters.install(model, adapter, manager, allocator, 5)) {
        new Trainer(model, adapters, train, null)
            .train(
                ExactResumeTest.examples(),
                manager,
                null,
                (snapshot, soFar) -> {
                  if (snapshot.state().step() == train.steps()) {
                    AdapterCheckpoint.write(
                        runDir,
                        ExactResumeTest.spec(adapter, train),
                        fingerprint,
                        adapters,
                        snapshot,
                        soFar,
                        allocator);
                  }
                });
        trained = logits(model, manager);
        trainedIds = generate(model, manager);
      }
    }
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(ExactResumeTest.SHAPE, 1, manager, DataType.FLOAT32);
      float[] base = logits(model, manager);
      long[] baseIds = generate(model, manager);
      try (InstalledAdapters adapters = AdapterCheckpoint.load(runDir, model, manager, allocator)) {
        assertArrayEquals(trained, logits(model, manager), 0f, method + " logits");
        assertArrayEquals(trainedIds, generate(model, manager), method + " generation");
      }
      assertFalse(Arrays.equals(trained, base), method + ": training changed nothing");
      assertFalse(
          Arrays.equals(trainedIds, baseIds),
          method + ": the adapter does not change generation " + Arrays.toString(baseIds));
    }
  }

  @Test
  void checkpointsThatDoNotFitAreRefusedNamingTheFile() throws IOException {
    AdapterConfig adapter = ExactResumeTest.config("meft");
    Path runDir = dir.resolve("run");
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(ExactResumeTest.SHAPE, 1, manager, DataType.FLOAT32);
      String fingerprint =
          ExactResumeTest.checkpointAfterOneStep(runDir, adapter, model, manager, allocator);
      Path checkpoint = runDir.resolve("checkpoint-000001");

      Llama other = RandomLlama.create(ExactResumeTest.SHAPE, 2, manager, DataType.FLOAT32);
      String otherPrint = ModelFingerprint.of(other);
      CheckpointException e = refused(checkpoint, other, manager, allocator, "manifest.json");
      assertTrue(e.getMessage().contains(fingerprint) && e.getMessage().contains(otherPrint));
      assertTrue(e.getMessage().contains("with --base-dtype "), e.getMessage());

      Path store = checkpoint.resolve("store/layer-01.arrow");
      byte[] original = Files.readAllBytes(store);
      try (FileChannel channel = FileChannel.open(store, StandardOpenOption.WRITE)) {
        channel.truncate(original.length - 100);
      }
      refused(checkpoint, model, manager, allocator, "layer-01.arrow");
      Files.write(store, original);

      Path adapterFile = checkpoint.resolve("adapter.safetensors");
      byte[] tensors = Files.readAllBytes(adapterFile);
      Files.write(adapterFile, Arrays.copyOf(tensors, 40));
      refused(checkpoint, model, manager, allocator, "adapter.safetensors");
      Files.write(adapterFile, tensors);

      Files.delete(checkpoint.resolve("manifest.json"));
      refused(checkpoint, model, manager, allocator, "manifest.json");
      refused(runDir, model, manager, allocator, "manifest.json");
    }
  }

  private static CheckpointException refused(
      Path checkpoint, Llama model, NDManager manager, BufferAllocator allocator, String file) {
    float[] before = logits(model, manager);
    CheckpointException e =
        assertThrows(
            CheckpointException.class,
            () -> AdapterCheckpoint.load(checkpoint, model, manager, allocator).close());
    assertTrue(e.getMessage().contains(file), e.getMessage());
    // A failed load leaves nothing installed: the model computes what it did before.
    assertArrayEquals(before, logits(model, manager), 0f, "logits after a failed load");
    return e;
  }

  private static float[] logits(Llama model, NDManager manager) {
    try (NDManager step = manager.newSubManager()) {
      return model
          .forward(
              new ParameterStore(step, false),
              step.create(PROMPT, new Shape(1, PROMPT.length)),
              null,
              false)
          .toFloatArray();
    }
  }

  /** Greedy continuations of PROMPT and of each training example's prompt, concatenated. */
  private static long[] generate(Llama model, NDManager manager) {
    List<long[]> prompts = new ArrayList<>(List.of(PROMPT));
    for (TrainingExample example : ExactResumeTest.examples()) {
      prompts.add(Arrays.copyOf(example.tokens(), example.tokens().length / 2));
    }
    return prompts.stream()
        .flatMapToLong(
            prompt ->
                Arrays.stream(
                    Generator.generate(model, manager, prompt, 12, Sampler.greedy()).newIds()))
        .toArray();
  }
}
