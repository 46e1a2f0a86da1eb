package org.meft.bench;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An in-process timing harness. Cases are measured interleaved, round by round (case A, case B,
 * ..., then A again), so that a kernel and its yardstick see the same machine load: on a shared
 * machine a burst of other work then slows both, rather than whichever ran at the time. {@code
 * warmup} untimed rounds come first (the JIT compiles the hot loops, caches and page tables reach
 * their steady state), then {@code repetitions} timed rounds; each run of a case is preceded by its
 * untimed setup, which picks fresh inputs so that no run finds the previous one's data in the
 * caches.
 */
public final class Harness {
  /** One run's setup, given the round index (warm-up rounds count first). */
  public interface Setup {
    void prepare(int round);
  }

  /** A named measurement. */
  public record Case(String name, Setup setup, Runnable body) {
    public static Case of(String name, Runnable body) {
      return new Case(name, round -> {}, body);
    }
  }

  private Harness() {}

  /** The samples of every case, by name, in the order given. */
  public static Map<String, Sample> time(int warmup, int repetitions, List<Case> cases) {
    if (warmup < 0 || repetitions < 1) {
      throw new IllegalArgumentException(
          "warmup must be >= 0 and repetitions >= 1, got " + warmup + ", " + repetitions);
    }
    double[][] seconds = new double[cases.size()][repetitions];
    for (int round = 0; round < warmup + repetitions; round++) {
      for (int c = 0; c < cases.size(); c++) {
        Case one = cases.get(c);
        one.setup().prepare(round);
        long start = System.nanoTime();
        one.body().run();
        long nanos = System.nanoTime() - start;
        if (round >= warmup) {
          seconds[c][round - warmup] = nanos / 1e9;
        }
      }
    }
    Map<String, Sample> samples = new LinkedHashMap<>();
    for (int c = 0; c < cases.size(); c++) {
      samples.put(cases.get(c).name(), Sample.of(seconds[c]));
    }
    return samples;
  }
}
