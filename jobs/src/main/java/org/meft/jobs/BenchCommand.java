package org.meft.jobs;

import ai.djl.ndarray.NDManager;
import com.google.gson.Gson;
import com.google.gson.JsonObject;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.meft.bench.Bench;
import org.meft.bench.BenchConfig;
import org.meft.bench.BenchReport;
import org.meft.bench.DecodeBench;
import org.meft.settings.Range;
import org.meft.settings.Setting;

/**
 * {@code bin/meft bench}: training steps of meft, parallel and lora side by side on a random LLaMA,
 * and the host kernels beside their yardsticks; a table on stderr, JSON with {@code --json}.
 */
public final class BenchCommand implements Command {
  @Override
  public String name() {
    return "bench";
  }

  private static final Setting HOST_BUDGET_MB =
      Setting.integer(
          "host-budget-mb", 16384, Range.closed(1, 1 << 30), "limit of the host stores' memory");

  @Override
  public String summary() {
    return "measure training steps (meft, parallel, lora) and the host kernels side by side";
  }

  @Override
  public String usage() {
    return "[--quick] [--strict] [--json] [--decode-model DIR] [--decode-only] [options]\n"
        + Flags.options(List.of(HOST_BUDGET_MB));
  }

  @Override
  public int run(List<String> args, PrintStream out) {
    Flags flags =
        Flags.parse(
            name(),
            args,
            Set.of("host-budget-mb", "decode-model"),
            Set.of("quick", "strict", "json", "decode-only"));
    Path decodeModel = flags.has("decode-model") ? Path.of(flags.string("decode-model", "")) : null;
    long budgetMb = flags.integer(HOST_BUDGET_MB);
    BenchConfig config = flags.has("quick") ? BenchConfig.quick() : BenchConfig.full();
    if (flags.has("decode-only")) {
      DecodeBench.Result decode;
      try (NDManager manager = NDManager.newBaseManager()) {
        decode = Bench.decode(config, decodeModel, manager, System.err);
      }
      JsonObject json = new JsonObject();
      json.add("machine", new Gson().toJsonTree(BenchReport.describeMachine()));
      json.add("decode", decode.toJson());
      decode.printTable(System.err);
      if (flags.has("json")) {
        out.println(json);
      }
      return 0;
    }
    System.err.printf(
        "meft bench: %s run (%s)%n",
        config.name(),
        flags.has("quick") ? "under a minute" : "several minutes to tens of minutes");
    BenchReport report = Bench.run(config, budgetMb << 20, System.err, decodeModel);
    report.printTable(System.err);
    if (flags.has("json")) {
      out.println(report.toJson());
    }
    List<BenchReport.Ratio> failed = report.failedTargets();
    if (flags.has("strict") && !failed.isEmpty()) {
      System.err.println(
          "meft bench: --strict: "
              + failed.size()
              + " target(s) this run judges not met: "
              + String.join(", ", failed.stream().map(BenchReport.Ratio::name).toList()));
      return 1;
    }
    return 0;
  }
}
