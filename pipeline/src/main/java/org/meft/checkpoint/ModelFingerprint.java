package org.meft.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.meft.model.Llama;

/**
 * A content hash of a base model's weights, so that an adapter is never applied to a model it was
 * not trained on: SHA-256 over, for every weight in checkpoint order, its Hugging Face name, its
 * shape and up to {@value #SAMPLES} evenly spaced values (all of a smaller tensor) as little-endian
 * float32. Sampling keeps it cheap for billions of parameters (hashing every byte of a 7B model
 * takes tens of seconds); any fine-tuning changes nearly every value, so sampled values still tell
 * models apart. It depends on the weights' values only, not on the file format: a Hugging Face
 * folder and its llama2.c export have the same fingerprint.
 */
public final class ModelFingerprint {
  public static final int SAMPLES = 65_536;
  public static final String METHOD =
      "sha256 over each weight's name, shape and up to "
          + SAMPLES
          + " evenly spaced float32 values (little-endian)";

  private ModelFingerprint() {}

  /** {@code sha256:} and 64 hex digits. */
  public static String of(Llama model) {
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK has no SHA-256", e);
    }
    for (Llama.Weight weight : model.weights()) {
      sha.update(weight.name().getBytes(StandardCharsets.UTF_8));
      NDArray array = weight.parameter().getArray();
      ByteBuffer shape = ByteBuffer.allocate(8 * (1 + array.getShape().dimension()));
      shape.order(ByteOrder.LITTLE_ENDIAN).putLong(array.getShape().dimension());
      for (long dim : array.getShape().getShape()) {
        shape.putLong(dim);
      }
      sha.update(shape.flip());
      sha.update(sample(array));
    }
    return "sha256:" + HexFormat.of().formatHex(sha.digest());
  }

  private static ByteBuffer sample(NDArray array) {
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      long size = array.size();
      NDArray flat = array.stopGradient().flatten();
      long stride = (size + SAMPLES - 1) / SAMPLES;
      NDArray picked = stride > 1 ? flat.get(new NDIndex("::" + stride)) : flat;
      float[] values = picked.toType(DataType.FLOAT32, false).toFloatArray();
      ByteBuffer out = ByteBuffer.allocate(values.length * Float.BYTES);
      FloatBuffer floats = out.order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
      floats.put(values);
      return out;
    }
  }
}
