package org.meft.store;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.stream.IntStream;

/**
 * Splits [0, n) into contiguous ranges run in parallel on the current fork-join pool (the common
 * pool when called from outside one, so {@code new ForkJoinPool(t).submit(...)} picks the thread
 * count). Callers keep results independent of the split: each item is computed by the same
 * arithmetic whichever range it falls in, so any thread count gives bit-identical results.
 */
public final class Parallel {
  /** Work on the items [from, to); allocate per-range scratch here, not per item. */
  public interface RangeBody {
    void run(int from, int to);
  }

  private Parallel() {}

  /** Threads available to the caller: the current pool's, or the common pool's plus the caller. */
  public static int threads() {
    return ForkJoinTask.inForkJoinPool()
        ? ForkJoinTask.getPool().getParallelism()
        : ForkJoinPool.getCommonPoolParallelism() + 1;
  }

  /** Runs {@code body} over [0, n) in ranges of at least {@code minPerRange} items. */
  public static void forRanges(int n, int minPerRange, RangeBody body) {
    long byGrain = (n + (long) minPerRange - 1) / minPerRange;
    int ranges = (int) Math.min(4L * threads(), byGrain);
    if (ranges <= 1) {
      if (n > 0) {
        body.run(0, n);
      }
      return;
    }
    IntStream.range(0, ranges)
        .parallel()
        .forEach(i -> body.run((int) ((long) n * i / ranges), (int) ((long) n * (i + 1) / ranges)));
  }
}
