package org.meft.jobs;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.meft.adapter.InstalledAdapters;
import org.meft.checkpoint.AdapterCheckpoint;
import org.meft.generate.Generator;
import org.meft.generate.Sampler;
import org.meft.load.LanguageModel;
import org.meft.model.BaseDtype;
import org.meft.model.ShapeLimit;
import org.meft.settings.Range;
import org.meft.settings.Setting;

/**
 * {@code bin/meft generate}: decodes a prompt with a model, greedily unless a temperature is set;
 * with {@code --adapter DIR} (a checkpoint or a run directory of {@code bin/meft train --output})
 * the trained adapter is installed first.
 */
public final class GenerateCommand implements Command {
  @Override
  public String name() {
    return "generate";
  }

  @Override
  public String summary() {
    return "continue a prompt with a model (Hugging Face folder or llama2.c .bin)";
  }

  private static final Setting MAX_NEW_TOKENS =
      Setting.required(
          "max-new-tokens",
          Setting.Kind.INTEGER,
          Range.closed(0, ShapeLimit.POSITIONS.max()),
          "tokens to generate after the prompt");
  private static final Setting SEED =
      Setting.derived(
          "seed",
          Setting.Kind.INTEGER,
          "random",
          Range.ANY,
          "sampling seed, non-zero (with --temperature)");
  private static final List<Setting> SETTINGS =
      List.of(MAX_NEW_TOKENS, Sampler.TEMPERATURE, Sampler.TOP_P, SEED);

  @Override
  public String usage() {
    return "--model PATH [--tokenizer tokenizer.json] [--adapter DIR] --prompt TEXT"
        + " --max-new-tokens N [--base-dtype auto|f32|f16|bf16] [options]\n"
        + Flags.options(SETTINGS);
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
                "adapter",
                "prompt",
                "max-new-tokens",
                "temperature",
                "top-p",
                "seed",
                "base-dtype"),
            Set.of());
    String prompt = flags.required("prompt");
    int maxNewTokens = (int) flags.integer(MAX_NEW_TOKENS);
    Sampler sampler = sampler(flags);
    Path adapter = flags.path("adapter");
    BaseDtype baseDtype;
    try {
      baseDtype = BaseDtype.parse(flags.string("base-dtype", BaseDtype.AUTO.toString()));
    } catch (IllegalArgumentException e) {
      throw new UsageException(e.getMessage());
    }
    try (LanguageModel model =
        LanguageModel.load(
            Path.of(flags.required("model")), flags.path("tokenizer"), baseDtype, null)) {
      if (adapter == null) {
        print(model, prompt, maxNewTokens, sampler, out);
        return 0;
      }
      long budget = AdapterCheckpoint.readManifest(adapter).run().hostBudgetBytes();
      try (BufferAllocator allocator = new RootAllocator(budget);
          InstalledAdapters installed =
              AdapterCheckpoint.load(adapter, model.llama(), model.manager(), allocator)) {
        print(model, prompt, maxNewTokens, sampler, out);
      }
    }
    return 0;
  }

  private static void print(
      LanguageModel model, String prompt, int maxNewTokens, Sampler sampler, PrintStream out) {
    Generator.Generation generation = Generator.generate(model, prompt, maxNewTokens, sampler);
    out.println(model.tokenizer().decode(generation.allIds()));
  }

  private static Sampler sampler(Flags flags) {
    if (!flags.has("temperature")) {
      if (flags.has("top-p") || flags.has("seed")) {
        throw new UsageException("--top-p and --seed apply only with --temperature");
      }
      return Sampler.greedy();
    }
    float temperature = flags.number(Sampler.TEMPERATURE);
    float topP = flags.number(Sampler.TOP_P);
    long seed = flags.has(SEED.name()) ? flags.integer(SEED) : System.nanoTime() | 1;
    if (seed == 0) {
      throw new UsageException("--seed must be non-zero");
    }
    return temperature == 0 ? Sampler.greedy() : Sampler.random(temperature, topP, seed);
  }
}
