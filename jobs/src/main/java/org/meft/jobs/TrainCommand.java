package org.meft.jobs;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.meft.adapter.AdapterMethod;
import org.meft.adapter.AdapterMethods;
import org.meft.adapter.ComposedMethod;
import org.meft.model.LlamaConfig;
import org.meft.plan.ModelShape;
import org.meft.run.TrainingRun;
import org.meft.settings.Range;
import org.meft.settings.Setting;
import org.meft.train.RunSpec;
import org.meft.train.TrainConfig;
import org.meft.train.TrainResult;

/**
 * {@code bin/meft train}: trains one adapter on a JSONL file of prompt/target pairs; with {@code
 * --output DIR} it writes checkpoints there and resumes from the latest one.
 */
public final class TrainCommand implements Command {
  @Override
  public boolean stoppable() {
    return true;
  }

  @Override
  public String name() {
    return "train";
  }

  @Override
  public String summary() {
    return "train an adapter ("
        + String.join(", ", AdapterMethods.names())
        + ") on prompt/target pairs";
  }

  private static final Setting OUTPUT =
      Setting.derived(
          "output",
          Setting.Kind.TEXT,
          "none: no checkpoints",
          Range.ANY,
          "write checkpoints there; a run resumes from the latest one");

  /** Its own flags, then every run setting ({@link RunSpec#SETTINGS}: methods' included). */
  @Override
  public List<Setting> flags() {
    List<Setting> flags = new ArrayList<>(List.of(OUTPUT, Flags.JSON, TrainingRun.RESTART));
    RunSpec.SETTINGS.stream().sorted().map(RunSpec::setting).forEach(flags::add);
    return flags;
  }

  /** The required flags on the first line, then every setting with its default and help. */
  @Override
  public String usage() {
    StringBuilder usage = new StringBuilder();
    for (Setting s : RunSpec.COMMON) {
      if (s.required()) {
        usage.append(s.usage()).append(' ');
      }
    }
    usage.append("[options]\n");
    for (Setting s : List.of(OUTPUT, Flags.JSON, TrainingRun.RESTART)) {
      Flags.option(usage, s.usage(), s.helpText());
    }
    RunSpec.COMMON.forEach(s -> Flags.option(usage, s.usage(), s.helpText()));
    for (AdapterMethod method : AdapterMethods.all()) {
      if (!method.settings().isEmpty()) {
        usage.append(" --method ").append(method.name()).append(": ");
        usage.append(method.description()).append('\n');
        method.settings().forEach(s -> Flags.option(usage, s.usage(), s.helpText()));
      }
    }
    usage.append(" --method A" + ComposedMethod.JOIN + "B (e.g. meft" + ComposedMethod.JOIN);
    usage.append("lora): two methods in one run, both methods' settings; a setting both take is");
    usage.append(" A's, --B.SETTING B's; the plan sizes A; full composes with none\n");
    Set<String> registered = new HashSet<>();
    AdapterMethods.all().forEach(m -> m.settings().forEach(s -> registered.add(s.name())));
    for (AdapterMethod composition : AdapterMethods.compositions()) {
      for (Setting s : composition.settings()) {
        if (registered.add(s.name())) {
          Flags.option(usage, s.usage(), s.helpText());
        }
      }
    }
    return usage.toString().stripTrailing();
  }

  @Override
  public int run(List<String> args, PrintStream out) {
    Flags flags = Flags.parse(this, args);
    Map<String, String> settings = new HashMap<>(flags.asMap());
    settings
        .keySet()
        .removeAll(Set.of(OUTPUT.name(), Flags.JSON.name(), TrainingRun.RESTART.name()));
    if (flags.has(RunSpec.CHECKPOINT_EVERY) && !flags.has(OUTPUT)) {
      throw new UsageException("--checkpoint-every needs --output DIR");
    }
    RunSpec spec;
    try {
      spec = RunSpec.fromSettings(settings);
      // Settings the model cannot take (a size past one tensor, a max-length given past its
      // positions) are flag errors too.
      LlamaConfig shape = ModelShape.read(spec.baseModel()).config();
      spec.checkModel(shape);
      if (flags.has(TrainConfig.MAX_LENGTH)) {
        spec.checkMaxLength(shape);
      }
    } catch (IllegalArgumentException e) {
      throw new UsageException(e.getMessage());
    }
    if (flags.has(TrainingRun.RESTART) && !flags.has(OUTPUT)) {
      throw new UsageException("--" + TrainingRun.RESTART.name() + " needs --output DIR");
    }
    TrainResult result =
        TrainingRun.run(
            spec, flags.optionalPath(OUTPUT), flags.has(TrainingRun.RESTART), System.err);
    if (flags.has(Flags.JSON)) {
      out.println(result.toJson());
    } else {
      out.printf(
          "%s: loss %.4f -> %.4f over %d steps, %.0f tokens/s%n",
          result.method(),
          result.initialLoss(),
          result.finalLoss(),
          result.steps(),
          result.tokensPerSecond());
    }
    return 0;
  }
}
