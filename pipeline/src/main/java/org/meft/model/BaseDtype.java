package org.meft.model;

import ai.djl.ndarray.types.DataType;
import java.util.Locale;

/**
 * The type the frozen base weights are held and multiplied in. Norm statistics, softmax, the loss,
 * the adapters, their gradients and all optimizer state stay float32 whatever it is.
 */
public enum BaseDtype {
  /** The checkpoint's own type on a GPU, f32 on the CPU. */
  AUTO(null),
  F32(DataType.FLOAT32),
  F16(DataType.FLOAT16),
  BF16(DataType.BFLOAT16);

  private final DataType dataType;

  BaseDtype(DataType dataType) {
    this.dataType = dataType;
  }

  /**
   * The type named {@code text} (auto, f32, f16, bf16).
   *
   * @throws IllegalArgumentException naming the setting and the allowed values
   */
  public static BaseDtype parse(String text) {
    for (BaseDtype value : values()) {
      if (value.toString().equals(text.strip().toLowerCase(Locale.ROOT))) {
        return value;
      }
    }
    throw new IllegalArgumentException(
        "base-dtype must be auto, f32, f16 or bf16, got '" + text + "'");
  }

  /**
   * The type to hold the weights in: this one, or for {@link #AUTO} the checkpoint's own type
   * ({@code checkpointType}, null when unknown: f32) on a GPU and f32 on the CPU.
   */
  public BaseDtype resolve(boolean onGpu, DataType checkpointType) {
    if (this != AUTO) {
      return this;
    }
    if (!onGpu || checkpointType == null) {
      return F32;
    }
    for (BaseDtype value : values()) {
      if (value.dataType == checkpointType) {
        return value;
      }
    }
    return F32;
  }

  /** DJL's type; null for {@link #AUTO}, which is resolved when the model loads. */
  public DataType dataType() {
    return dataType;
  }

  /** Bytes per weight; 0 for {@link #AUTO}. */
  public int bytes() {
    return dataType == null ? 0 : dataType.getNumOfBytes();
  }

  @Override
  public String toString() {
    return name().toLowerCase(Locale.ROOT);
  }
}
