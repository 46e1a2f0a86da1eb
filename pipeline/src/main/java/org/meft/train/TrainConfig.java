package org.meft.train;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.meft.model.ShapeLimit;
import org.meft.reversible.ReversibleConfig;
import org.meft.settings.Range;
import org.meft.settings.Setting;
import org.meft.settings.SettingValues;

/**
 * Optimisation settings of one run; each is declared once, with its default, range and help, in
 * {@link #SETTINGS}.
 *
 * @param steps optimizer steps
 * @param batchSize examples per micro-batch
 * @param accumulation micro-batches per optimizer step
 * @param learningRate peak learning rate
 * @param warmupSteps linear warm-up from 0 to the peak
 * @param minLearningRateRatio the cosine decay ends at this fraction of the peak
 * @param weightDecay decoupled (AdamW) weight decay
 * @param beta1 AdamW first-moment decay
 * @param beta2 AdamW second-moment decay
 * @param eps AdamW epsilon
 * @param clipNorm global gradient-norm clip (0: none)
 * @param maxLength longest example in tokens; longer ones lose prompt tokens from the front
 * @param seed data order, initialisation and dropout
 * @param logEvery a progress line every this many steps (0: none)
 * @param maxBadSteps stop after this many consecutive non-finite steps
 * @param recomputeActivations keep only each decoder layer's input for backward and recompute the
 *     layer there (gradient checkpointing)
 * @param reversible the lowest layers made reversible (Liao et al.), or {@link
 *     ReversibleConfig#NONE}
 */
public record TrainConfig(
    int steps,
    int batchSize,
    int accumulation,
    float learningRate,
    int warmupSteps,
    float minLearningRateRatio,
    float weightDecay,
    float beta1,
    float beta2,
    float eps,
    float clipNorm,
    int maxLength,
    long seed,
    int logEvery,
    int maxBadSteps,
    boolean recomputeActivations,
    ReversibleConfig reversible) {

  public static final Setting STEPS =
      Setting.required(
          "steps", Setting.Kind.INTEGER, Range.closed(1, Integer.MAX_VALUE), "optimizer steps");
  public static final Setting BATCH_SIZE =
      Setting.required(
          "batch-size",
          Setting.Kind.INTEGER,
          Range.closed(1, 1 << 16),
          "examples per micro-batch (the memory plan is checked before any is built)");
  public static final Setting ACCUMULATION =
      Setting.integer(
          "accumulation", 1, Range.closed(1, 1 << 16), "micro-batches per optimizer step");
  public static final Setting LR =
      Setting.required(
          "lr", Setting.Kind.NUMBER, new Range(0, false, 10, true), "peak learning rate");
  public static final Setting WARMUP =
      Setting.derived(
          "warmup",
          Setting.Kind.INTEGER,
          "steps/10",
          Range.closed(0, Integer.MAX_VALUE),
          "linear warm-up steps (at most steps)");
  public static final Setting MIN_LR_RATIO =
      Setting.number(
          "min-lr-ratio", 0.1f, Range.closed(0, 1), "the cosine decay ends at this fraction");
  public static final Setting WEIGHT_DECAY =
      Setting.number("weight-decay", 0f, Range.closed(0, 1e6), "decoupled (AdamW) weight decay");
  public static final Setting BETA1 =
      Setting.number("beta1", 0.9f, Range.closedOpen(0, 1), "AdamW first-moment decay");
  public static final Setting BETA2 =
      Setting.number("beta2", 0.999f, Range.closedOpen(0, 1), "AdamW second-moment decay");
  public static final Setting EPS =
      Setting.number("eps", 1e-8f, new Range(0, false, 1, true), "AdamW epsilon");
  public static final Setting CLIP =
      Setting.number("clip", 1f, Range.closed(0, 1e30), "global gradient-norm clip (0: none)");
  public static final Setting MAX_LENGTH =
      Setting.integer(
          "max-length",
          256,
          Range.closed(2, ShapeLimit.POSITIONS.max()),
          "longest example in tokens (prompts cut in front; at most the model's positions, the"
              + " default is cut to them)");
  public static final Setting SEED =
      Setting.integer("seed", 42, Range.ANY, "data order, initialisation and dropout");
  public static final Setting LOG_EVERY =
      Setting.integer(
          "log-every",
          10,
          Range.closed(0, Integer.MAX_VALUE),
          "a progress line every N steps (0: none)");
  public static final Setting MAX_BAD_STEPS =
      Setting.integer(
          "max-bad-steps",
          5,
          Range.closed(1, Integer.MAX_VALUE),
          "stop after N non-finite steps in a row");

  public static final Setting RECOMPUTE_ACTIVATIONS =
      Setting.flag(
          "recompute-activations",
          "keep only each layer's input for backward, recompute the layer there");

  /** Every optimisation setting, in the order they are written. */
  public static final List<Setting> SETTINGS = allSettings();

  private static List<Setting> allSettings() {
    List<Setting> all =
        new ArrayList<>(
            List.of(
                STEPS,
                BATCH_SIZE,
                ACCUMULATION,
                LR,
                WARMUP,
                MIN_LR_RATIO,
                WEIGHT_DECAY,
                BETA1,
                BETA2,
                EPS,
                CLIP,
                MAX_LENGTH,
                SEED,
                LOG_EVERY,
                MAX_BAD_STEPS,
                RECOMPUTE_ACTIVATIONS));
    all.addAll(ReversibleConfig.SETTINGS);
    return List.copyOf(all);
  }

  public TrainConfig {
    STEPS.check(steps);
    BATCH_SIZE.check(batchSize);
    ACCUMULATION.check(accumulation);
    LR.check(learningRate);
    WARMUP.check(warmupSteps);
    if (warmupSteps > steps) {
      throw new IllegalArgumentException(
          WARMUP.name() + " must be at most steps (" + steps + "), got " + warmupSteps);
    }
    MIN_LR_RATIO.check(minLearningRateRatio);
    WEIGHT_DECAY.check(weightDecay);
    BETA1.check(beta1);
    BETA2.check(beta2);
    EPS.check(eps);
    CLIP.check(clipNorm);
    MAX_LENGTH.check(maxLength);
    LOG_EVERY.check(logEvery);
    MAX_BAD_STEPS.check(maxBadSteps);
    if (reversible == null) {
      throw new IllegalArgumentException("reversible: null (use ReversibleConfig.NONE)");
    }
    if (reversible.enabled() && recomputeActivations) {
      throw new IllegalArgumentException(
          "--reversible and --"
              + RECOMPUTE_ACTIVATIONS.name()
              + " are two ways to drop activations: give one of them");
    }
  }

  /** Reads {@link #SETTINGS}; steps, batch-size and lr are required, the rest have defaults. */
  public static TrainConfig read(SettingValues values) {
    int steps = values.integer(STEPS);
    return new TrainConfig(
        steps,
        values.integer(BATCH_SIZE),
        values.integer(ACCUMULATION),
        values.number(LR),
        values.integer(WARMUP, steps / 10),
        values.number(MIN_LR_RATIO),
        values.number(WEIGHT_DECAY),
        values.number(BETA1),
        values.number(BETA2),
        values.number(EPS),
        values.number(CLIP),
        values.integer(MAX_LENGTH),
        values.longInteger(SEED),
        values.integer(LOG_EVERY),
        values.integer(MAX_BAD_STEPS),
        values.bool(RECOMPUTE_ACTIVATIONS),
        ReversibleConfig.read(values));
  }

  /** steps, batch size and learning rate as given; everything else at its default. */
  public static TrainConfig defaults(int steps, int batchSize, float learningRate) {
    return read(
        new SettingValues(
            Map.of(
                STEPS.name(), Integer.toString(steps),
                BATCH_SIZE.name(), Integer.toString(batchSize),
                LR.name(), Float.toString(learningRate))));
  }

  /** {@link #SETTINGS} as written, every default written out; {@link #read} gives it back. */
  public Map<String, String> settings() {
    Map<String, String> s = new LinkedHashMap<>();
    s.put(STEPS.name(), Integer.toString(steps));
    s.put(BATCH_SIZE.name(), Integer.toString(batchSize));
    s.put(ACCUMULATION.name(), Integer.toString(accumulation));
    s.put(LR.name(), Float.toString(learningRate));
    s.put(WARMUP.name(), Integer.toString(warmupSteps));
    s.put(MIN_LR_RATIO.name(), Float.toString(minLearningRateRatio));
    s.put(WEIGHT_DECAY.name(), Float.toString(weightDecay));
    s.put(BETA1.name(), Float.toString(beta1));
    s.put(BETA2.name(), Float.toString(beta2));
    s.put(EPS.name(), Float.toString(eps));
    s.put(CLIP.name(), Float.toString(clipNorm));
    s.put(MAX_LENGTH.name(), Integer.toString(maxLength));
    s.put(SEED.name(), Long.toString(seed));
    s.put(LOG_EVERY.name(), Integer.toString(logEvery));
    s.put(MAX_BAD_STEPS.name(), Integer.toString(maxBadSteps));
    s.put(RECOMPUTE_ACTIVATIONS.name(), Boolean.toString(recomputeActivations));
    s.putAll(reversible.settings());
    return s;
  }

  public TrainConfig withSeed(long newSeed) {
    return with(Map.of(SEED, Long.toString(newSeed)));
  }

  public TrainConfig withSchedule(int newWarmupSteps, float newMinRatio, float newClipNorm) {
    return with(
        Map.of(
            WARMUP, Integer.toString(newWarmupSteps),
            MIN_LR_RATIO, Float.toString(newMinRatio),
            CLIP, Float.toString(newClipNorm)));
  }

  public TrainConfig withRecomputeActivations(boolean recompute) {
    return with(Map.of(RECOMPUTE_ACTIVATIONS, Boolean.toString(recompute)));
  }

  /** This configuration with {@code newReversible} in place of its reversible layers. */
  public TrainConfig withReversible(ReversibleConfig newReversible) {
    Map<String, String> values = settings();
    ReversibleConfig.SETTINGS.forEach(setting -> values.remove(setting.name()));
    values.putAll(newReversible.settings());
    return read(new SettingValues(values));
  }

  /** This configuration with {@code changes} (values as written) in place of its own. */
  private TrainConfig with(Map<Setting, String> changes) {
    Map<String, String> values = settings();
    changes.forEach((setting, value) -> values.put(setting.name(), value));
    return read(new SettingValues(values));
  }

  /** The learning rate at optimizer step {@code step} (0-based): linear warm-up, cosine decay. */
  public float learningRateAt(int step) {
    if (step < warmupSteps) {
      return learningRate * (step + 1) / (warmupSteps + 1);
    }
    double progress = (double) (step - warmupSteps) / Math.max(1, steps - warmupSteps);
    double cosine = 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress)));
    return (float) (learningRate * (minLearningRateRatio + (1 - minLearningRateRatio) * cosine));
  }
}
