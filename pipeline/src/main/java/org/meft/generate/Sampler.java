package org.meft.generate;

import org.meft.settings.Range;
import org.meft.settings.Setting;

/**
 * Picks the next token from logits: argmax when the temperature is 0, otherwise a draw from
 * softmax(logits / T), restricted to the top-p nucleus when 0 < p < 1.
 *
 * <p>The arithmetic and the random number generator (xorshift64*) follow llama2.c's {@code run.c},
 * so that a seed gives the same draws as the reference implementation.
 */
public final class Sampler {
  /** The temperature setting of generate and evaluate (0: greedy). */
  public static final Setting TEMPERATURE =
      Setting.number("temperature", 0f, Range.closed(0, 100), "sampling temperature (0: greedy)");

  /** The nucleus (top-p) setting of generate and evaluate. */
  public static final Setting TOP_P =
      Setting.number(
          "top-p", 1f, new Range(0, false, 1, true), "nucleus sampling (with --temperature)");

  private final float temperature;
  private final float topP;
  private long state;

  private Sampler(float temperature, float topP, long seed) {
    if (!(temperature >= 0) || Float.isInfinite(temperature)) {
      throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
    }
    if (!(topP > 0 && topP <= 1)) {
      throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
    }
    this.temperature = temperature;
    this.topP = topP;
    this.state = seed;
  }

  public static Sampler greedy() {
    return new Sampler(0, 1, 1);
  }

  /** seed must be non-zero (xorshift stays at 0 forever). */
  public static Sampler random(float temperature, float topP, long seed) {
    if (seed == 0) {
      throw new IllegalArgumentException("seed must be non-zero");
    }
    return new Sampler(temperature, topP, seed);
  }

  /** True when this sampler takes the argmax (temperature 0): no draw, no state. */
  public boolean isGreedy() {
    return temperature == 0;
  }

  /** The next token id; {@code logits} [V] is overwritten. */
  public int nextInPlace(float[] logits) {
    if (temperature == 0) {
      return argmax(logits);
    }
    for (int i = 0; i < logits.length; i++) {
      logits[i] /= temperature;
    }
    softmaxInPlace(logits);
    float coin = randomFloat();
    return topP >= 1 ? sampleMultinomial(logits, coin) : sampleTopP(logits, topP, coin);
  }

  /** The first index of the largest value. */
  static int argmax(float[] x) {
    int best = 0;
    for (int i = 1; i < x.length; i++) {
      if (x[i] > x[best]) {
        best = i;
      }
    }
    return best;
  }

  static void softmaxInPlace(float[] x) {
    float max = x[0];
    for (float v : x) {
      max = Math.max(max, v);
    }
    float sum = 0;
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) Math.exp(x[i] - max);
      sum += x[i];
    }
    for (int i = 0; i < x.length; i++) {
      x[i] /= sum;
    }
  }

  static int sampleMultinomial(float[] probabilities, float coin) {
    float cdf = 0;
    for (int i = 0; i < probabilities.length; i++) {
      cdf += probabilities[i];
      if (coin < cdf) {
        return i;
      }
    }
    return probabilities.length - 1;
  }

  /** Samples among the most probable tokens whose cumulative probability first exceeds p. */
  static int sampleTopP(float[] probabilities, float p, float coin) {
    int n = probabilities.length;
    // Tokens below this cannot be in the nucleus; dropping them first keeps the sort short.
    float cutoff = (1.0f - p) / (n - 1);
    Integer[] candidates =
        java.util.stream.IntStream.range(0, n)
            .filter(i -> probabilities[i] >= cutoff)
            .boxed()
            .sorted((a, b) -> Float.compare(probabilities[b], probabilities[a]))
            .toArray(Integer[]::new);
    float cumulative = 0;
    int last = candidates.length - 1;
    for (int i = 0; i < candidates.length; i++) {
      cumulative += probabilities[candidates[i]];
      if (cumulative > p) {
        last = i;
        break;
      }
    }
    float r = coin * cumulative;
    float cdf = 0;
    for (int i = 0; i <= last; i++) {
      cdf += probabilities[candidates[i]];
      if (r < cdf) {
        return candidates[i];
      }
    }
    return candidates[last];
  }

  /** xorshift64* as in run.c: a uniform float in [0, 1). */
  float randomFloat() {
    state ^= state >>> 12;
    state ^= state << 25;
    state ^= state >>> 27;
    long u32 = (state * 0x2545F4914F6CDD1DL) >>> 32;
    return (u32 >>> 8) / 16777216.0f;
  }
}
