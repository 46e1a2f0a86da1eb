package org.meft.train;

/**
 * Optimisation settings of one run; every default is here ({@link #defaults}).
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
    int maxBadSteps) {

  public TrainConfig {
    atLeast("steps", steps, 1);
    atLeast("batchSize", batchSize, 1);
    atLeast("accumulation", accumulation, 1);
    atLeast("warmupSteps", warmupSteps, 0);
    atLeast("maxLength", maxLength, 2);
    atLeast("logEvery", logEvery, 0);
    atLeast("maxBadSteps", maxBadSteps, 1);
    if (!(learningRate > 0)) {
      throw new IllegalArgumentException("learningRate must be > 0, got " + learningRate);
    }
    inUnit("minLearningRateRatio", minLearningRateRatio, true);
    inUnit("beta1", beta1, false);
    inUnit("beta2", beta2, false);
    if (!(weightDecay >= 0) || !(eps > 0) || !(clipNorm >= 0)) {
      throw new IllegalArgumentException(
          "weightDecay and clipNorm must be >= 0 and eps > 0, got "
              + weightDecay
              + ", "
              + clipNorm
              + ", "
              + eps);
    }
  }

  /** steps, batch size and learning rate as given; everything else at its default. */
  public static TrainConfig defaults(int steps, int batchSize, float learningRate) {
    return new TrainConfig(
        steps,
        batchSize,
        1,
        learningRate,
        steps / 10,
        0.1f,
        0f,
        0.9f,
        0.999f,
        1e-8f,
        1f,
        256,
        42,
        10,
        5);
  }

  public TrainConfig withSeed(long newSeed) {
    return new TrainConfig(
        steps,
        batchSize,
        accumulation,
        learningRate,
        warmupSteps,
        minLearningRateRatio,
        weightDecay,
        beta1,
        beta2,
        eps,
        clipNorm,
        maxLength,
        newSeed,
        logEvery,
        maxBadSteps);
  }

  public TrainConfig withSchedule(int newWarmupSteps, float newMinRatio, float newClipNorm) {
    return new TrainConfig(
        steps,
        batchSize,
        accumulation,
        learningRate,
        newWarmupSteps,
        newMinRatio,
        weightDecay,
        beta1,
        beta2,
        eps,
        newClipNorm,
        maxLength,
        seed,
        logEvery,
        maxBadSteps);
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

  private static void atLeast(String field, int value, int min) {
    if (value < min) {
      throw new IllegalArgumentException(field + " must be >= " + min + ", got " + value);
    }
  }

  private static void inUnit(String field, float value, boolean closed) {
    if (!(value >= 0 && (closed ? value <= 1 : value < 1))) {
      throw new IllegalArgumentException(
          field + " must be in [0, 1" + (closed ? "]" : ")") + ", got " + value);
    }
  }
}
