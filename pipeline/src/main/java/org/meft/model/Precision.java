package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;

/**
 * Casts that autograd differentiates, for a base held in half precision beside float32 norms,
 * softmax, loss and adapters. DJL's {@code toType} runs under PyTorch's {@code NoGradGuard} (DJL
 * 0.35.1 and 0.36.0, {@code torchTo}): its result has no gradient function, so a gradient could not
 * flow back through it to an adapter below. Writing into a new array of the target type with index
 * assignment is PyTorch's {@code copy_}, which converts and is differentiable.
 */
public final class Precision {
  private static final NDIndex ALL = new NDIndex("...");

  private Precision() {}

  /**
   * {@code x} itself when it already has {@code type}, else a differentiable copy in {@code type}.
   */
  public static NDArray cast(NDArray x, DataType type) {
    if (x.getDataType() == type) {
      return x;
    }
    NDArray out = x.getManager().zeros(x.getShape(), type, x.getDevice());
    out.set(ALL, x);
    return out;
  }

  /**
   * {@code x} widened to float32 when it is in half precision (f16, bf16), differentiably; a
   * float32 or float64 {@code x} itself (float64 models exist for finite-difference checks).
   */
  public static NDArray atLeastFloat32(NDArray x) {
    return cast(x, atLeastFloat32(x.getDataType()));
  }

  /** The type {@link #atLeastFloat32(NDArray)} gives an array of {@code type}. */
  public static DataType atLeastFloat32(DataType type) {
    return type == DataType.FLOAT16 || type == DataType.BFLOAT16 ? DataType.FLOAT32 : type;
  }
}
