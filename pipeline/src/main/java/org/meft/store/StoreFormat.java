package org.meft.store;

/**
 * How a store lays out its rows.
 *
 * @param dtype the keys' and values' element type
 * @param moments the AdamW moments' element type
 * @param trainKeys whether the keys train: false keeps no key moments and no key gradients
 */
public record StoreFormat(StoreDtype dtype, StoreMoments moments, boolean trainKeys) {
  /** Every tensor float32, keys trained: the layout of stores before the compact settings. */
  public static final StoreFormat F32 = new StoreFormat(StoreDtype.F32, StoreMoments.F32, true);

  public StoreFormat {
    if (dtype == null || moments == null) {
      throw new IllegalArgumentException("a store format needs a dtype and a moment format");
    }
  }

  /** Trained tensors per layer: values, and keys when they train. */
  int params() {
    return trainKeys ? 2 : 1;
  }
}
