package org.meft.plan;

import java.util.OptionalInt;
import java.util.function.Predicate;
import org.meft.adapter.AdapterConfig;
import org.meft.settings.Setting;

/**
 * The setting that sizes an adapter (adapter-size N for meft and parallel, lora-rank for LoRA), and
 * the largest value of it under which a plan still fits.
 */
final class AdapterSize {
  private AdapterSize() {}

  /** The size setting's name, or null for a method without one (full). */
  static String setting(AdapterConfig adapter) {
    return adapter.method().sizeSetting().map(Setting::name).orElse(null);
  }

  /**
   * The largest size whose plan {@code fits}, every other setting as given (meft's experts and
   * max-rows follow N when they were at their defaults, else are clamped to it); empty when none
   * does or the method has no size; at most the size setting's range allows.
   */
  static OptionalInt largest(PlanInputs in, Predicate<MemoryPlan> fits) {
    if (setting(in.adapter()) == null || !fits(in, 1, fits)) {
      return OptionalInt.empty();
    }
    long largest = (long) in.adapter().method().sizeSetting().orElseThrow().range().max();
    int low = 1; // fits
    long high = 2; // does not fit, or past largest
    while (high <= largest && fits(in, (int) high, fits)) {
      low = (int) high;
      high *= 2;
    }
    high = Math.min(high, largest + 1L);
    while (high - low > 1) {
      int mid = (int) (low + (high - low) / 2);
      if (fits(in, mid, fits)) {
        low = mid;
      } else {
        high = mid;
      }
    }
    return OptionalInt.of(low);
  }

  private static boolean fits(PlanInputs in, int size, Predicate<MemoryPlan> fits) {
    return fits.test(MemoryPlan.of(in.withAdapter(resized(in.adapter(), size))));
  }

  static AdapterConfig resized(AdapterConfig adapter, int size) {
    return adapter.method().resized(adapter, size);
  }
}
