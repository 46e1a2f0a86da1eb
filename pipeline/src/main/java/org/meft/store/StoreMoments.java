package org.meft.store;

/**
 * How the store holds its AdamW moments m and v: float32, or 8-bit codes of bitsandbytes' dynamic
 * map with a float32 scale per block of {@link Int8Rows#BLOCK} elements of a row (Dettmers et al.,
 * 2022, "8-bit Optimizers via Block-wise Quantization"), decoded to float32 for the update.
 */
public enum StoreMoments {
  F32,
  INT8
}
