package org.meft.model;

import ai.djl.ndarray.NDArray;

/**
 * Scalars for arithmetic that autograd may differentiate. DJL 0.35.1's {@code x.div(2f)}, {@code
 * x.mul(2f)} and {@code x.pow(-1)} build a temporary scalar tensor over a Java buffer and close it
 * right after the operation, while autograd keeps that tensor for the backward pass: once the
 * garbage collector frees the buffer, gradients read freed memory (NaN or garbage, at random). A
 * scalar made here lives in the operand's manager, so it survives until that scope closes.
 */
public final class Scalar {
  private Scalar() {}

  /** {@code value} as a 0-d array in {@code like}'s manager and data type. */
  public static NDArray of(NDArray like, float value) {
    return like.getManager().create(value).toType(like.getDataType(), false);
  }
}
