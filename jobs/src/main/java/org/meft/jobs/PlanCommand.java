package org.meft.jobs;

import com.google.gson.JsonObject;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import org.meft.model.ShapeLimit;
import org.meft.plan.DecodeBatch;
import org.meft.plan.MemoryPlan;
import org.meft.plan.ModelShape;
import org.meft.plan.PlanInputs;
import org.meft.plan.PlanLimits;
import org.meft.settings.Range;
import org.meft.settings.Setting;
import org.meft.train.RunSpec;
import org.meft.train.TrainConfig;

/**
 * {@code bin/meft plan}: the memory a training configuration needs on the device and the host and
 * the bus bytes per step, from a model folder or a bare config.json, before anything loads; with
 * {@code train}'s flags and defaults (data, steps and lr are not needed), plus {@code --seq-len},
 * {@code --host-memory-gb} and {@code --json}.
 */
public final class PlanCommand implements Command {
  private static final String SEQ_LEN = "seq-len";
  private static final String HOST_MEMORY_GB = "host-memory-gb";
  private static final Setting SEQ_LEN_SETTING =
      Setting.derived(
          SEQ_LEN,
          Setting.Kind.INTEGER,
          "max-length, at most the model's positions",
          Range.closed(1, ShapeLimit.POSITIONS.max()),
          "tokens per sequence planned");
  private static final Setting HOST_MEMORY =
      Setting.number(
          HOST_MEMORY_GB,
          0f,
          Range.closed(0, 1 << 24),
          "the machine's memory in GiB (0: unchecked)");
  private static final long GIB = 1L << 30;

  @Override
  public String name() {
    return "plan";
  }

  @Override
  public String summary() {
    return "plan a training run's device, host and bus memory before loading anything";
  }

  /** Its own flags, then every run setting as {@code train} takes it. */
  @Override
  public List<Setting> flags() {
    List<Setting> flags = new ArrayList<>(List.of(SEQ_LEN_SETTING, HOST_MEMORY, Flags.JSON));
    RunSpec.SETTINGS.stream().sorted().map(RunSpec::setting).forEach(flags::add);
    return flags;
  }

  @Override
  public String usage() {
    StringBuilder usage =
        new StringBuilder(
            "--model PATH_OR_CONFIG_JSON --method METHOD --batch-size B [options]\n"
                + "   and every flag of 'bin/meft train' (bin/meft train --help); base-dtype auto"
                + " plans the checkpoint's type (as on a GPU)\n");
    for (Setting s : List.of(SEQ_LEN_SETTING, HOST_MEMORY, Flags.JSON)) {
      Flags.option(usage, s.usage(), s.helpText());
    }
    return usage.toString().stripTrailing();
  }

  @Override
  public int run(List<String> args, PrintStream out) {
    Flags flags = Flags.parse(this, args);
    Map<String, String> settings = new HashMap<>(flags.asMap());
    settings.keySet().removeAll(Set.of(SEQ_LEN, HOST_MEMORY_GB, Flags.JSON.name()));
    // A plan needs no data, steps or learning rate.
    settings.putIfAbsent(RunSpec.DATA.name(), "-");
    settings.putIfAbsent(TrainConfig.STEPS.name(), "1");
    settings.putIfAbsent(TrainConfig.LR.name(), "1");
    RunSpec spec;
    try {
      spec = RunSpec.fromSettings(settings);
    } catch (IllegalArgumentException e) {
      throw new UsageException(e.getMessage());
    }
    ModelShape shape = ModelShape.read(flags.path(RunSpec.MODEL));
    PlanInputs in = PlanInputs.of(spec, shape, true);
    if (flags.has(SEQ_LEN_SETTING)) {
      int seqLen = (int) flags.integer(SEQ_LEN_SETTING);
      if (seqLen > shape.config().maxSeqLen()) {
        throw new UsageException(
            "--"
                + SEQ_LEN
                + " "
                + seqLen
                + " is past the model's "
                + shape.config().maxSeqLen()
                + " positions");
      }
      in = in.withSeqLen(seqLen);
    }
    float hostGb = flags.number(HOST_MEMORY);
    MemoryPlan plan = MemoryPlan.of(in);
    PlanLimits limits =
        new PlanLimits(spec.deviceMemoryBytes(), spec.hostBudgetBytes(), (long) (hostGb * GIB));
    OptionalInt largest =
        spec.deviceMemoryBytes() > 0
            ? PlanLimits.largestSizeForDevice(in, spec.deviceMemoryBytes())
            : OptionalInt.empty();
    PrintStream table = flags.has(Flags.JSON) ? System.err : out;
    table.print(plan.table());
    for (PlanLimits.Verdict v : limits.verdicts(plan)) {
      table.println("  " + v.describe());
    }
    String sizeSetting = PlanLimits.sizeSetting(spec.adapter());
    if (largest.isPresent() && sizeSetting != null) {
      table.printf(
          Locale.ROOT,
          "  largest %s within %s of device memory: %d%n",
          sizeSetting,
          MemoryPlan.human(spec.deviceMemoryBytes()),
          largest.getAsInt());
    }
    int decodeBatch = 0;
    if (spec.deviceMemoryBytes() > 0) {
      long perSequence = DecodeBatch.bytesPerSequence(in.model(), in.baseDtype().bytes());
      long resident = DecodeBatch.residentBytes(plan);
      if (resident + perSequence > spec.deviceMemoryBytes()) {
        table.printf(
            Locale.ROOT,
            "  evaluation cannot decode within %s of device memory: %s resident and %s a"
                + " sequence%n",
            MemoryPlan.human(spec.deviceMemoryBytes()),
            MemoryPlan.human(resident),
            MemoryPlan.human(perSequence));
      } else {
        decodeBatch = DecodeBatch.of(plan, spec.deviceMemoryBytes());
        table.printf(
            Locale.ROOT,
            "  evaluation decodes %d sequence%s per call within %s of device memory (%s each)%n",
            decodeBatch,
            decodeBatch == 1 ? "" : "s",
            MemoryPlan.human(spec.deviceMemoryBytes()),
            MemoryPlan.human(perSequence));
      }
    }
    if (flags.has(Flags.JSON)) {
      JsonObject json = plan.toJson();
      json.add("verdicts", limits.toJson(plan));
      if (decodeBatch > 0) {
        json.addProperty("decode_batch_for_device", decodeBatch);
      }
      if (largest.isPresent() && sizeSetting != null) {
        json.addProperty(
            "largest_" + sizeSetting.replace('-', '_') + "_for_device", largest.getAsInt());
      }
      out.println(json);
    }
    return 0;
  }
}
