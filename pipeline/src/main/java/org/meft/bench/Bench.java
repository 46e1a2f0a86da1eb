package org.meft.bench;

import ai.djl.ndarray.NDManager;
import java.io.PrintStream;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/** One benchmark run: the training steps, then the host kernels, in this process. */
public final class Bench {
  private Bench() {}

  /**
   * Runs {@code config}; host memory (stores, transfer buffers) comes from an allocator limited to
   * {@code hostBudgetBytes}; progress lines go to {@code log}.
   */
  public static BenchReport run(BenchConfig config, long hostBudgetBytes, PrintStream log) {
    long start = System.nanoTime();
    var machine = BenchReport.describeMachine();
    try (BufferAllocator allocator = new RootAllocator(hostBudgetBytes);
        NDManager manager = NDManager.newBaseManager()) {
      List<StepResult> steps = StepBench.run(config, manager, allocator, log);
      log.printf("bench: host kernels...%n");
      KernelBench.Result kernels = KernelBench.run(config.kernels(), allocator, manager);
      return new BenchReport(config, machine, steps, kernels, (System.nanoTime() - start) / 1e9);
    }
  }
}
