package org.meft.store;

/**
 * The learning rate of the store's values, a parameter group of their own: product-key memories
 * (Lample et al., 2019) train their values with a sparse Adam at their own rate, Memory Layers at
 * Scale (Berges et al., 2024, {@code value_fixed_lr}) at a fixed rate ten times the model's. At
 * optimizer step {@code s} (from 1), a row taking its {@code t}-th update moves its value at
 *
 * <pre>
 *   lr_value = scale * (schedule == RUN ? lr(s) : peak lr) * (frequency == SQRT ? min(CAP, sqrt(s / t)) : 1)
 * </pre>
 *
 * Keys keep the run's rate, as in both of those systems: Adam moves every coordinate by about lr a
 * step, so at 5e-3 a key of std 0.02 already moves a quarter of its scale per update, and ten times
 * that scrambles the routing (measured: see the README's capacity section).
 *
 * <p>A sparse row learns only in the steps whose tokens choose it: a row chosen in one step of r
 * takes r times fewer AdamW steps than a dense parameter, each of about the same size. {@code SQRT}
 * makes up part of that: a row chosen every step moves at the base rate, one chosen once in 100
 * steps at ten times it.
 *
 * @param scale the values' rate over the run's
 * @param schedule whether the values follow the run's warm-up and cosine decay or stay at the peak
 * @param frequency whether a row's rate grows as it is chosen more rarely
 */
public record ValueRate(float scale, Schedule schedule, Frequency frequency) {
  /** The rows at the run's rate: every row as a dense parameter would move. */
  public static final ValueRate RUN = new ValueRate(1f, Schedule.RUN, Frequency.NONE);

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

  public ValueRate {
    if (!(scale > 0) || Float.isInfinite(scale)) {
      throw new IllegalArgumentException("value rate scale must be finite and > 0, got " + scale);
    }
  }

  /** The values' rate before {@link #frequencyFactor}, at a step whose run rate is {@code lr}. */
  public double base(float lr, float peakLr) {
    return scale * (double) (schedule == Schedule.RUN ? lr : peakLr);
  }

  /** The frequency factor of a row taking its {@code t}-th update at step {@code s}. */
  public double frequencyFactor(int s, int t) {
    return frequency == Frequency.SQRT ? Math.min(FREQUENCY_CAP, Math.sqrt((double) s / t)) : 1;
  }
}
