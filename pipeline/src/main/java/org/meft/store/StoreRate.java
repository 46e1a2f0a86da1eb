package org.meft.store;

/**
 * The learning rates of the store's rows, parameter groups of their own. Values: product-key
 * memories (Lample et al., 2019) train their values with a sparse Adam at their own rate, Memory
 * Layers at Scale (Berges et al., 2024, {@code value_fixed_lr}) at a fixed rate ten times the
 * model's. At optimizer step {@code s} (from 1), a row taking its {@code t}-th update moves its
 * value at
 *
 * <pre>
 *   lr_value = scale * (schedule == RUN ? lr(s) : peak lr) * (frequency == SQRT ? min(CAP, sqrt(s / t)) : 1)
 * </pre>
 *
 * Keys move at {@code keyScale} times the run's rate (its schedule, no frequency factor): Adam
 * moves every coordinate by about lr a step, so at 5e-3 a key of std 0.02 moves a quarter of its
 * scale per update, ten times that scrambles the routing, and a slower key keeps a fact's rows
 * chosen from one epoch to the next (measured: docs/results/capacity.md); 0 freezes the keys.
 *
 * <p>A sparse row learns only in the steps whose tokens choose it: a row chosen in one step of r
 * takes r times fewer AdamW steps than a dense parameter, each of about the same size. {@code SQRT}
 * makes up part of that: a row chosen every step moves at the base rate, one chosen once in 100
 * steps at ten times it.
 *
 * @param keyScale the keys' rate over the run's, in [0, inf)
 * @param valueScale the values' rate over the run's, in (0, inf)
 * @param schedule whether the values follow the run's warm-up and cosine decay or stay at the peak
 * @param frequency whether a row's rate grows as it is chosen more rarely
 */
public record StoreRate(float keyScale, float valueScale, Schedule schedule, Frequency frequency) {
  /** The rows at the run's rate: every row as a dense parameter would move. */
  public static final StoreRate RUN = new StoreRate(1f, 1f, Schedule.RUN, Frequency.NONE);

  /**
   * The most {@code SQRT} multiplies a row's rate by: the ratio of the memory values' rate to the
   * model's in Memory Layers at Scale. Without it a row first chosen at step 2,000 would start 45
   * times faster than the others.
   */
  public static final double FREQUENCY_CAP = 10;

  public enum Schedule {
    /** The run's warm-up and cosine decay. */
    RUN,
    /** The run's peak rate at every step. */
    CONSTANT
  }

  public enum Frequency {
    NONE,
    /** min(CAP, sqrt(s / t)). */
    SQRT
  }

  public StoreRate {
    if (!(keyScale >= 0) || Float.isInfinite(keyScale)) {
      throw new IllegalArgumentException("key rate scale must be finite and >= 0, got " + keyScale);
    }
    if (!(valueScale > 0) || Float.isInfinite(valueScale)) {
      throw new IllegalArgumentException(
          "value rate scale must be finite and > 0, got " + valueScale);
    }
  }

  /** The keys' rate at a step whose run rate is {@code lr}. */
  public double key(float lr) {
    return keyScale * (double) lr;
  }

  /** The values' rate before {@link #frequencyFactor}, at a step whose run rate is {@code lr}. */
  public double value(float lr, float peakLr) {
    return valueScale * (double) (schedule == Schedule.RUN ? lr : peakLr);
  }

  /** The frequency factor of a row taking its {@code t}-th update at step {@code s}. */
  public double frequencyFactor(int s, int t) {
    return frequency == Frequency.SQRT ? Math.min(FREQUENCY_CAP, Math.sqrt((double) s / t)) : 1;
  }
}
