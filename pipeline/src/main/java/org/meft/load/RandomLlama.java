package org.meft.load;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;
import org.meft.format.CheckpointException;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.tokenizer.BpeTokenizerTrainer;

/**
 * A randomly initialised LLaMA of any shape, for tests, benchmarks and the embedded default: the
 * product runs on a fresh machine with nothing downloaded. Weights are N(0, 0.02) as in Hugging
 * Face's {@code initializer_range}, norms are ones; the same seed gives the same weights on every
 * machine (java.util.Random, not the engine's generator).
 */
public final class RandomLlama {
  public static final float INIT_STD = 0.02f;

  private RandomLlama() {}

  /** A model whose parameters live in {@code manager}, all frozen. */
  public static Llama create(LlamaConfig config, long seed, NDManager manager, DataType dataType) {
    Llama model = new Llama(config);
    Random random = new Random(seed);
    for (Llama.Weight weight : model.weights()) {
      Shape shape = weight.shape();
      float[] values = new float[Math.toIntExact(shape.size())];
      if (shape.dimension() == 1) {
        java.util.Arrays.fill(values, 1f);
      } else {
        for (int i = 0; i < values.length; i++) {
          values[i] = (float) random.nextGaussian() * INIT_STD;
        }
      }
      weight.parameter().setArray(manager.create(values, shape).toType(dataType, false));
    }
    model.freezeParameters(true);
    return model;
  }

  /**
   * Writes a random model as a Hugging Face folder: config.json, the weights (sharded when {@code
   * maxShardBytes > 0}), and a byte-fallback BPE tokenizer.json trained on the embedded corpus,
   * with the token files a Hugging Face loader expects.
   */
  public static void write(
      Path folder, LlamaConfig config, long seed, DataType storeType, long maxShardBytes) {
    try (NDManager manager = NDManager.newBaseManager()) {
      HuggingFaceCheckpoint.save(
          create(config, seed, manager, DataType.FLOAT32), folder, storeType, maxShardBytes);
    }
    try {
      BpeTokenizerTrainer.write(
          folder.resolve("tokenizer.json"),
          BpeTokenizerTrainer.defaultCorpus(),
          config.vocabSize());
      JsonObject tokenizerConfig = new JsonObject();
      tokenizerConfig.addProperty("add_bos_token", true);
      tokenizerConfig.addProperty("add_eos_token", false);
      tokenizerConfig.addProperty("bos_token", "<s>");
      tokenizerConfig.addProperty("eos_token", "</s>");
      tokenizerConfig.addProperty("unk_token", "<unk>");
      tokenizerConfig.addProperty("model_max_length", config.maxSeqLen());
      tokenizerConfig.addProperty("tokenizer_class", "LlamaTokenizer");
      HuggingFaceCheckpoint.writeJson(folder.resolve("tokenizer_config.json"), tokenizerConfig);
      JsonObject generationConfig = new JsonObject();
      generationConfig.addProperty("bos_token_id", config.bosId());
      generationConfig.addProperty("eos_token_id", config.eosIds().get(0));
      generationConfig.addProperty("max_length", config.maxSeqLen());
      HuggingFaceCheckpoint.writeJson(folder.resolve("generation_config.json"), generationConfig);
    } catch (IOException e) {
      throw new CheckpointException(folder, "cannot write: " + e.getMessage(), e);
    }
  }
}
