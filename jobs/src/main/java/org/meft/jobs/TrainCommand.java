package org.meft.jobs;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.InstalledAdapters;
import org.meft.adapter.LayerSelection;
import org.meft.adapter.full.FullConfig;
import org.meft.adapter.lora.LoraConfig;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.parallel.ParallelConfig;
import org.meft.model.LanguageModel;
import org.meft.train.TrainConfig;
import org.meft.train.TrainResult;
import org.meft.train.Trainer;
import org.meft.train.TrainingExample;

/** {@code bin/meft train}: trains one adapter on a JSONL file of prompt/target pairs. */
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
        + " --batch-size B --lr LR [--adapter-size 4096 --top-k 64 --experts ceil(sqrt N)"
        + " --probes 8 --max-rows 1024 --key-init 0.02 --lora-rank 16 --lora-alpha 32"
        + " --lora-dropout 0 --lora-targets q,k,v,o --layers all --accumulation 1 --warmup steps/10"
        + " --clip 1.0 --weight-decay 0 --max-length 256 --seed 42 --log-every 10"
        + " --host-budget-mb 16384 --json]";
  }

  @Override
  public int run(List<String> args, PrintStream out) {
    Flags flags =
        Flags.parse(
            name(),
            args,
            Set.of(
                "model",
                "tokenizer",
                "data",
                "method",
                "steps",
                "batch-size",
                "lr",
                "adapter-size",
                "top-k",
                "experts",
                "probes",
                "max-rows",
                "key-init",
                "lora-rank",
                "lora-alpha",
                "lora-dropout",
                "lora-targets",
                "layers",
                "accumulation",
                "warmup",
                "clip",
                "weight-decay",
                "max-length",
                "seed",
                "log-every",
                "host-budget-mb"),
            Set.of("json"));
    Path modelPath = Path.of(flags.required("model"));
    Path data = Path.of(flags.required("data"));
    TrainConfig train = trainConfig(flags);
    AdapterConfig adapter = adapterConfig(flags);
    long budget = flags.longValue("host-budget-mb", 16384) * 1024 * 1024;
    try (LanguageModel model = LanguageModel.load(modelPath, flags.path("tokenizer"));
        BufferAllocator allocator = new RootAllocator(budget)) {
      List<TrainingExample> examples =
          TrainingExample.readJsonl(data, model.tokenizer(), model.config(), train.maxLength());
      try (InstalledAdapters installed =
          InstalledAdapters.install(
              model.llama(), adapter, model.manager(), allocator, train.seed())) {
        System.err.printf(
            "meft train: %s on %d examples, %,d trainable parameters, host store %,d bytes%n",
            adapter.method(),
            examples.size(),
            installed.trainableParameters(),
            installed.store() == null ? 0 : installed.store().bytes());
        TrainResult result =
            new Trainer(model.llama(), installed, train, System.err)
                .train(examples, model.manager());
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
      }
    }
    return 0;
  }

  private static TrainConfig trainConfig(Flags flags) {
    int steps = flags.integer("steps", 0);
    flags.required("steps");
    flags.required("batch-size");
    flags.required("lr");
    try {
      return new TrainConfig(
          steps,
          flags.integer("batch-size", 1),
          flags.integer("accumulation", 1),
          flags.number("lr", 0),
          flags.integer("warmup", steps / 10),
          0.1f,
          flags.number("weight-decay", 0),
          0.9f,
          0.999f,
          1e-8f,
          flags.number("clip", 1f),
          flags.integer("max-length", 256),
          flags.longValue("seed", 42),
          flags.integer("log-every", 10),
          5);
    } catch (IllegalArgumentException e) {
      throw new UsageException(e.getMessage());
    }
  }

  private static AdapterConfig adapterConfig(Flags flags) {
    String method = flags.required("method");
    try {
      LayerSelection layers = new LayerSelection(flags.string("layers", "all"));
      int n = flags.integer("adapter-size", 4096);
      float keyInit = flags.number("key-init", 0.02f);
      return switch (method) {
        case "meft" ->
            new MeftConfig(
                n,
                flags.integer("top-k", 64),
                flags.integer("experts", MeftConfig.defaultExperts(n)),
                flags.integer("probes", 8),
                flags.integer("max-rows", Math.min(n, 1024)),
                keyInit,
                layers);
        case "parallel" -> new ParallelConfig(n, keyInit, layers);
        case "lora" ->
            new LoraConfig(
                flags.integer("lora-rank", 16),
                flags.number("lora-alpha", 32),
                flags.number("lora-dropout", 0),
                new LinkedHashSet<>(
                    Arrays.asList(flags.string("lora-targets", "q,k,v,o").split(","))),
                layers);
        case "full" -> new FullConfig(layers);
        default ->
            throw new UsageException(
                "--method must be meft, parallel, lora or full, got '" + method + "'");
      };
    } catch (IllegalArgumentException e) {
      throw new UsageException(e.getMessage());
    }
  }
}
