package org.meft.jobs;

import java.io.PrintStream;
import java.util.List;
import java.util.Set;
import org.meft.bench.Bench;
import org.meft.bench.BenchConfig;
import org.meft.bench.BenchReport;

/**
 * {@code bin/meft bench}: training steps of meft, parallel and lora side by side on a random LLaMA,
 * and the host kernels beside their yardsticks; a table on stderr, JSON with {@code --json}.
 */
public final class BenchCommand implements Command {
  @Override
  public String name() {
    return "bench";
  }

  @Override
  public String summary() {
    return "measure training steps (meft, parallel, lora) and the host kernels side by side";
  }

  @Override
  public String usage() {
    return "[--quick] [--json] [--host-budget-mb 16384]";
  }

  @Override
  public int run(List<String> args, PrintStream out) {
    Flags flags = Flags.parse(name(), args, Set.of("host-budget-mb"), Set.of("quick", "json"));
    long budgetMb = flags.longValue("host-budget-mb", 16384);
    if (budgetMb < 1) {
      throw new UsageException("--host-budget-mb must be >= 1, got " + budgetMb);
    }
    BenchConfig config = flags.has("quick") ? BenchConfig.quick() : BenchConfig.full();
    System.err.printf(
        "meft bench: %s run (%s)%n",
        config.name(),
        flags.has("quick") ? "under a minute" : "several minutes to tens of minutes");
    BenchReport report = Bench.run(config, budgetMb << 20, System.err);
    report.printTable(System.err);
    if (flags.has("json")) {
      out.println(report.toJson());
    }
    return 0;
  }
}
