package org.meft.load;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.testing.Overwrite;
import org.meft.testing.Shared;

/** Every loader gives the same model: same logits for the same tokens. */
class LoaderEquivalenceTest {
  private static final long[] TOKENS = {1, 403, 407, 261, 400, 20, 300, 5, 17, 259, 88};

  @Test
  void llama2cAndHuggingFaceLoadersGiveTheSameLogits() {
    Path bin = Shared.require("models/stories260K/stories260K.bin");
    Path folder = Shared.require("models/stories260K-hf");
    try (NDManager manager = NDManager.newBaseManager()) {
      float[] fromC = logits(Llama2cCheckpoint.load(bin, manager, DataType.FLOAT32), manager);
      float[] fromHf =
          logits(HuggingFaceCheckpoint.load(folder, manager, DataType.FLOAT32), manager);
      float worst = maxAbsDifference(fromC, fromHf);
      System.out.printf("llama2.c vs Hugging Face loader: max abs logit difference %.3g%n", worst);
      assertTrue(worst < 1e-4f, "max abs logit difference " + worst);
    }
  }

  @Test
  void untiedHeadRoundTripsExactlyThroughAHuggingFaceFolder(@TempDir Path dir) {
    LlamaConfig config = LlamaConfig.of(32, 64, 2, 4, 1, 300, 32).withTiedEmbeddings(false);
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama original = RandomLlama.create(config, 12, manager, DataType.FLOAT32);
      assertTrue(original.weights().stream().anyMatch(w -> w.name().equals("lm_head.weight")));
      HuggingFaceCheckpoint.save(original, dir, DataType.FLOAT32, 0);
      Llama loaded = HuggingFaceCheckpoint.load(dir, manager, DataType.FLOAT32);
      assertTrue(maxAbsDifference(logits(original, manager), logits(loaded, manager)) == 0f);
    }
  }

  @Test
  void shardedBf16CopyLoadsToTheSameLogitsWithinBf16Rounding(@TempDir Path dir) {
    LlamaConfig config = LlamaConfig.of(64, 160, 3, 8, 4, 512, 64);
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama original = RandomLlama.create(config, 8, manager, DataType.FLOAT32);
      Path copy = dir.resolve("bf16");
      HuggingFaceCheckpoint.save(original, copy, DataType.BFLOAT16, 40_000);
      assertTrue(Files.exists(copy.resolve("model.safetensors.index.json")));
      assertTrue(shardCount(copy) > 2, "several shards");

      Llama loaded = HuggingFaceCheckpoint.load(copy, manager, DataType.FLOAT32);
      float[] loadedLogits = logits(loaded, manager);

      // Independent reference: the original weights rounded to bf16 here, in Java.
      for (Llama.Weight weight : original.weights()) {
        NDArray array = weight.parameter().getArray();
        float[] values = array.toFloatArray();
        for (int i = 0; i < values.length; i++) {
          values[i] = roundToBf16(values[i]);
        }
        Overwrite.floats(array, values);
      }
      float exact = maxAbsDifference(logits(original, manager), loadedLogits);
      System.out.printf(
          "sharded bf16 copy vs bf16-rounded reference: max abs difference %.3g%n", exact);
      assertTrue(exact < 1e-5f, "bf16-rounded reference vs loaded copy: " + exact);
    }
  }

  @Test
  void shardedF16AndBf16CopiesOfTheRealModelStayCloseToF32(@TempDir Path dir) {
    Path folder = Shared.require("models/stories260K-hf");
    try (NDManager manager = NDManager.newBaseManager()) {
      Llama f32 = HuggingFaceCheckpoint.load(folder, manager, DataType.FLOAT32);
      float[] reference = logits(f32, manager);
      float scale = 0;
      for (float v : reference) {
        scale = Math.max(scale, Math.abs(v));
      }
      for (DataType type : new DataType[] {DataType.BFLOAT16, DataType.FLOAT16}) {
        Path copy = dir.resolve(type.name());
        HuggingFaceCheckpoint.save(f32, copy, type, 300_000);
        float worst =
            maxAbsDifference(
                reference,
                logits(HuggingFaceCheckpoint.load(copy, manager, DataType.FLOAT32), manager));
        // bf16 keeps 8 significant bits (relative error 2^-9 per weight), f16 keeps 11.
        float tolerance = (type == DataType.BFLOAT16 ? 0.05f : 0.01f) * scale;
        System.out.printf(
            "stories260K %s copy vs f32: max abs difference %.3g (logits up to %.3g)%n",
            type, worst, scale);
        assertTrue(
            worst < tolerance,
            type + ": max abs difference " + worst + " of logits up to " + scale);
      }
    }
  }

  private static long shardCount(Path folder) {
    try (var files = Files.list(folder)) {
      return files
          .filter(f -> f.getFileName().toString().matches("model-\\d{5}-of-\\d{5}\\.safetensors"))
          .count();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** Round to nearest even, as PyTorch converts float32 to bfloat16. */
  static float roundToBf16(float value) {
    int bits = Float.floatToRawIntBits(value);
    int rounded = bits + 0x7FFF + ((bits >>> 16) & 1);
    return Float.intBitsToFloat(rounded & 0xFFFF0000);
  }

  private static float[] logits(Llama model, NDManager manager) {
    try (NDManager step = manager.newSubManager()) {
      long[] tokens = TOKENS.clone();
      for (int i = 0; i < tokens.length; i++) {
        tokens[i] %= model.config().vocabSize();
      }
      NDArray ids = step.create(tokens, new Shape(1, tokens.length));
      return model.forward(new ParameterStore(step, false), ids, null, false).toFloatArray();
    }
  }

  private static float maxAbsDifference(float[] a, float[] b) {
    float worst = 0;
    for (int i = 0; i < a.length; i++) {
      worst = Math.max(worst, Math.abs(a[i] - b[i]));
    }
    return worst;
  }
}
