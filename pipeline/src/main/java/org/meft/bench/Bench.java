package org.meft.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.meft.load.LanguageModel;

/** One benchmark run: the training steps, then the host kernels, in this process. */
public final class Bench {
  private Bench() {}

  /**
   * Runs {@code config}; host memory (stores, transfer buffers) comes from an allocator limited to
   * {@code hostBudgetBytes}; progress lines go to {@code log}.
   */
  public static BenchReport run(BenchConfig config, long hostBudgetBytes, PrintStream log) {
    return run(config, hostBudgetBytes, log, null);
  }

  /** As above, with a decode section on {@code decodeModel} (a model folder; null: none). */
  public static BenchReport run(
      BenchConfig config, long hostBudgetBytes, PrintStream log, Path decodeModel) {
    long start = System.nanoTime();
    var machine = BenchReport.describeMachine();
    try (BufferAllocator allocator = new RootAllocator(hostBudgetBytes);
        NDManager manager = NDManager.newBaseManager()) {
      List<StepResult> steps = StepBench.run(config, manager, allocator, log);
      log.printf("bench: host kernels...%n");
      KernelBench.Result kernels = KernelBench.run(config.kernels(), allocator, manager);
      log.printf("bench: decoding...%n");
      DecodeBench.Result decode = decode(config, decodeModel, manager, log);
      return new BenchReport(
          config, machine, steps, kernels, (System.nanoTime() - start) / 1e9, decode);
    }
  }

  /**
   * The decode section: {@code decodeModel} (when given) and the bench's random model shape, each
   * single-stream and batched, {@link #DECODE_NEW_TOKENS} new tokens per prompt.
   */
  public static DecodeBench.Result decode(
      BenchConfig config, Path decodeModel, NDManager manager, PrintStream log) {
    // One PyTorch thread, as an evaluate task with one core has: at decoding's small ops, OpenMP's
    // second thread costs more than it brings, and on a loaded machine its spinning makes each
    // step tens of times slower (measured: 64 tokens of stories260K in 0.3 s on one thread, 10 s
    // on two under load 5).
    Engine.getEngine("PyTorch");
    int threads = JniUtils.getNumThreads();
    JniUtils.setNumThreads(DECODE_TORCH_THREADS);
    try {
      return decodeRows(config, decodeModel, manager, log);
    } finally {
      JniUtils.setNumThreads(threads);
    }
  }

  /** PyTorch threads during the decode section. */
  public static final int DECODE_TORCH_THREADS = 1;

  private static DecodeBench.Result decodeRows(
      BenchConfig config, Path decodeModel, NDManager manager, PrintStream log) {
    List<DecodeBench.Row> rows = new ArrayList<>();
    if (decodeModel != null) {
      try (LanguageModel model = LanguageModel.load(decodeModel, null)) {
        rows.add(
            DecodeBench.measure(
                decodeModel.getFileName().toString(),
                model.llama(),
                model.manager(),
                DECODE_NEW_TOKENS,
                log));
      }
    }
    rows.add(DecodeBench.random(config.model(), manager, DECODE_NEW_TOKENS, log));
    return new DecodeBench.Result(DECODE_NEW_TOKENS, DECODE_TORCH_THREADS, rows);
  }

  /** New tokens per prompt in the decode section. */
  public static final int DECODE_NEW_TOKENS = 64;
}
