package org.meft.testing;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import java.util.Random;
import org.meft.adapter.InstalledAdapters;
import org.meft.store.HostStore;

/**
 * Non-zero trainable values for adapter tests: LoRA's B and the FFN adapters' values start at zero,
 * which would hide whether an adapter takes part in the output or the gradients.
 */
public final class AdapterValues {
  private AdapterValues() {}

  /**
   * Sets every device parameter and every host value row (meft's host keys are random already) to
   * N(0, std^2) draws from a fixed seed.
   */
  public static void nonZero(InstalledAdapters adapters, float std) {
    Random random = new Random(3);
    for (Parameter parameter : adapters.deviceParameters()) {
      NDArray array = parameter.getArray();
      Overwrite.floats(array, gaussians(random, Math.toIntExact(array.size()), std));
    }
    HostStore store = adapters.store();
    if (store != null) {
      for (int layer = 0; layer < store.layers(); layer++) {
        for (int row = 0; row < store.rows(); row++) {
          store.setValueRow(layer, row, gaussians(random, store.dim(), std));
        }
      }
    }
  }

  private static float[] gaussians(Random random, int count, float std) {
    float[] values = new float[count];
    for (int i = 0; i < count; i++) {
      values[i] = (float) random.nextGaussian() * std;
    }
    return values;
  }
}
