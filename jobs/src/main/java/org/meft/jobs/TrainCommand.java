package org.meft.jobs;

import java.io.PrintStream;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.meft.run.TrainingRun;
import org.meft.train.RunSpec;
import org.meft.train.TrainResult;

/**
 * {@code bin/meft train}: trains one adapter on a JSONL file of prompt/target pairs; with {@code
 * --output DIR} it writes checkpoints there and resumes from the latest one.
 */
public final class TrainCommand implements Command {
  @Override
  public String name() {
    return "train";
  }

  @Override
  public String summary() {
    return "train an adapter (meft, parallel, lora, full) on prompt/target pairs";
  }

  @Override
  public String usage() {
    return "--model PATH --data FILE.jsonl --method meft|parallel|lora|full --steps N"
        + " --batch-size B --lr LR [--output DIR --checkpoint-every 0 --tokenizer FILE"
        + " --adapter-size 4096 --top-k 64 --experts ceil(sqrt N) --probes 8 --max-rows 1024"
        + " --key-init 0.02 --lora-rank 16 --lora-alpha 32 --lora-dropout 0"
        + " --lora-targets q,k,v,o --layers all --accumulation 1 --warmup steps/10"
        + " --min-lr-ratio 0.1 --weight-decay 0 --beta1 0.9 --beta2 0.999 --eps 1e-8 --clip 1.0"
        + " --max-length 256 --seed 42 --log-every 10 --max-bad-steps 5 --host-budget-mb 16384"
        + " --json]";
  }

  @Override
  public int run(List<String> args, PrintStream out) {
    Set<String> valued = new HashSet<>(RunSpec.SETTINGS);
    valued.add("output");
    Flags flags = Flags.parse(name(), args, valued, Set.of("json"));
    Map<String, String> settings = new HashMap<>(flags.asMap());
    settings.remove("output");
    settings.remove("json");
    if (flags.has("checkpoint-every") && !flags.has("output")) {
      throw new UsageException("--checkpoint-every needs --output DIR");
    }
    RunSpec spec;
    try {
      spec = RunSpec.fromSettings(settings);
    } catch (IllegalArgumentException e) {
      throw new UsageException(e.getMessage());
    }
    TrainResult result = TrainingRun.run(spec, flags.path("output"), System.err);
    if (flags.has("json")) {
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
