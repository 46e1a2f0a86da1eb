package org.meft.plan;

import java.util.OptionalInt;
import java.util.function.Predicate;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.lora.LoraConfig;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.parallel.ParallelConfig;

/**
 * The setting that sizes an adapter (adapter-size N for meft and parallel, lora-rank for LoRA), and
 * the largest value of it under which a plan still fits.
 */
final class AdapterSize {
  private static final int LARGEST = 1 << 30;

  private AdapterSize() {}

  /** The size setting's name, or null for a method without one (full). */
  static String setting(AdapterConfig adapter) {
    if (adapter instanceof MeftConfig || adapter instanceof ParallelConfig) {
      return "adapter-size";
    }
    return adapter instanceof LoraConfig ? LoraConfig.RANK.name() : null;
  }

  /**
   * The largest size whose plan {@code fits}, every other setting as given (meft's experts and
   * max-rows follow N when they were at their defaults, else are clamped to it); empty when none
   * does or the method has no size; at most 2^30.
   */
  static OptionalInt largest(PlanInputs in, Predicate<MemoryPlan> fits) {
    if (setting(in.adapter()) == null || !fits(in, 1, fits)) {
      return OptionalInt.empty();
    }
    int low = 1; // fits
    long high = 2; // does not fit, or past LARGEST
    while (high <= LARGEST && fits(in, (int) high, fits)) {
      low = (int) high;
      high *= 2;
    }
    high = Math.min(high, LARGEST + 1L);
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
    if (adapter instanceof MeftConfig c) {
      int topK = Math.min(c.topK(), size);
      boolean defaultExperts = c.experts() == MeftConfig.defaultExperts(c.adapterSize());
      int experts = defaultExperts ? MeftConfig.defaultExperts(size) : Math.min(c.experts(), size);
      boolean defaultRows = c.maxRows() == Math.min(c.adapterSize(), 1024);
      int maxRows = defaultRows ? Math.min(size, 1024) : c.maxRows();
      maxRows = Math.max(topK, Math.min(maxRows, size));
      return new MeftConfig(
          size, topK, experts, Math.min(c.probes(), experts), maxRows, c.keyInit(), c.layers());
    }
    if (adapter instanceof ParallelConfig c) {
      return new ParallelConfig(size, c.keyInit(), c.layers());
    }
    if (adapter instanceof LoraConfig c) {
      return new LoraConfig(size, c.alpha(), c.dropout(), c.projections(), c.layers());
    }
    throw new IllegalArgumentException(adapter.method().name() + " has no size setting");
  }
}
