package org.meft.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.meft.load.LanguageModel;
import org.meft.testing.Shared;

/**
 * A base held in half precision: stories260K's logits against its float32 logits, and the
 * base-weight meter. (Adapter gradients through a half base: AdapterMethodTableTest.)
 */
class HalfBaseTest {
  private static final long[] TOKENS = {1, 403, 407, 261, 400, 20, 300, 5, 17, 259, 88};

  /**
   * f16 keeps 11 significant bits: each weight and each activation is rounded with a relative error
   * of at most 2^-11 (4.9e-4), products accumulate in float32, and norms and softmax run in
   * float32. Over 5 layers with about 8 roundings each, errors of a few 1e-3 relative to the
   * logits' scale are expected (measured: 0.044 with logits up to 18.9, 0.23%); 1% of the largest
   * logit leaves a margin of about 4x and still fails on a wrong cast or a lost term, which moves
   * logits by their own size.
   */
  @Test
  void f16BaseLogitsOfStories260KStayWithinOnePercentOfF32() {
    Path folder = Shared.require("models/stories260K-hf");
    float[] reference = logits(folder, BaseDtype.F32);
    float[] half = logits(folder, BaseDtype.F16);
    float scale = 0;
    float worst = 0;
    for (int i = 0; i < reference.length; i++) {
      scale = Math.max(scale, Math.abs(reference[i]));
      worst = Math.max(worst, Math.abs(reference[i] - half[i]));
    }
    System.out.printf(
        "stories260K f16 base vs f32: max abs logit difference %.4g (logits up to %.3g)%n",
        worst, scale);
    assertTrue(worst < 0.01f * scale, "max abs difference " + worst + " of logits up to " + scale);
  }

  /** bf16 is held as f16 (DJL cannot hold bfloat16): same logits as f16, and no abort. */
  @Test
  void bf16RequestLoadsAsF16() {
    Path folder = Shared.require("models/stories260K-hf");
    try (LanguageModel model = LanguageModel.load(folder, null, BaseDtype.BF16, null)) {
      assertEquals(DataType.FLOAT16, model.llama().dataType());
    }
    float[] f16 = logits(folder, BaseDtype.F16);
    float[] bf16 = logits(folder, BaseDtype.BF16);
    for (int i = 0; i < f16.length; i++) {
      assertEquals(f16[i], bf16[i], 0f, "logit " + i);
    }
  }

  /** The base-weight meter counts each loaded tensor's elements times its type's size. */
  @Test
  void baseWeightMeterCountsTwoBytesPerParameterInF16AndFourInF32() {
    Path folder = Shared.require("models/stories260K-hf");
    for (BaseDtype type : new BaseDtype[] {BaseDtype.F32, BaseDtype.F16}) {
      try (LanguageModel model = LanguageModel.load(folder, null, type, null)) {
        long parameters = 0;
        for (Llama.Weight weight : model.llama().weights()) {
          parameters += weight.shape().size();
          assertEquals(type.dataType(), weight.parameter().getArray().getDataType(), weight.name());
        }
        System.out.printf(
            "stories260K %s base: %d parameters, %d bytes%n",
            type, parameters, model.llama().weightBytes());
        assertEquals(type.bytes() * parameters, model.llama().weightBytes(), type.toString());
      }
    }
  }

  private static float[] logits(Path folder, BaseDtype type) {
    try (LanguageModel model = LanguageModel.load(folder, null, type, null);
        NDManager step = model.manager().newSubManager()) {
      NDArray tokens = step.create(TOKENS, new Shape(1, TOKENS.length));
      NDArray logits = model.llama().forward(new ParameterStore(step, false), tokens, null, false);
      assertEquals(DataType.FLOAT32, logits.getDataType(), "logits are float32");
      return logits.toFloatArray();
    }
  }
}
