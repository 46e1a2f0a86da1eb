package org.meft.jobs;

import ai.djl.ndarray.NDManager;
import com.google.gson.Gson;
import com.google.gson.JsonObject;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
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

  private static final Setting QUICK =
      Setting.flag("quick", "the small shapes, under a minute (default: the full bench)");
  private static final Setting STRICT =
      Setting.flag("strict", "exit 1 when a target this run judges is not met");
  private static final Setting DECODE_MODEL =
      Setting.derived(
          "decode-model",
          Setting.Kind.TEXT,
          "a random model of the bench's shape",
          Range.ANY,
          "the model the decode section runs (a Hugging Face folder)");
  private static final Setting DECODE_ONLY = Setting.flag("decode-only", "only the decode section");

  @Override
  public List<Setting> flags() {
    return List.of(QUICK, STRICT, Flags.JSON, DECODE_MODEL, DECODE_ONLY, HOST_BUDGET_MB);
  }

  @Override
  public int run(List<String> args, PrintStream out) {
    Flags flags = Flags.parse(this, args);
    Path decodeModel = flags.optionalPath(DECODE_MODEL);
    long budgetMb = flags.integer(HOST_BUDGET_MB);
    BenchConfig config = flags.has(QUICK) ? BenchConfig.quick() : BenchConfig.full();
    if (flags.has(DECODE_ONLY)) {
      DecodeBench.Result decode;
      try (NDManager manager = NDManager.newBaseManager()) {
        decode = Bench.decode(config, decodeModel, manager, System.err);
      }
      JsonObject json = new JsonObject();
      json.add("machine", new Gson().toJsonTree(BenchReport.describeMachine()));
      json.add("decode", decode.toJson());
      decode.printTable(System.err);
      if (flags.has(Flags.JSON)) {
        out.println(json);
      }
      return 0;
    }
    System.err.printf(
        "meft bench: %s run (%s)%n",
        config.name(), flags.has(QUICK) ? "under a minute" : "several minutes to tens of minutes");
    BenchReport report = Bench.run(config, budgetMb << 20, System.err, decodeModel);
    report.printTable(System.err);
    if (flags.has(Flags.JSON)) {
      out.println(report.toJson());
    }
    List<BenchReport.Ratio> failed = report.failedTargets();
    if (flags.has(STRICT) && !failed.isEmpty()) {
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
