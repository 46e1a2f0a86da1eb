package org.meft.jobs;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
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
import org.meft.train.RunSpec;

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

  private static final Setting ADAPTER =
      Setting.derived(
          "adapter",
          Setting.Kind.TEXT,
          "none: the base model alone",
          Range.ANY,
          "a checkpoint (or run folder) of train --output, installed first");
  private static final Setting PROMPT =
      Setting.required("prompt", Setting.Kind.TEXT, Range.ANY, "the text to continue");

  @Override
  public List<Setting> flags() {
    List<Setting> flags =
        new java.util.ArrayList<>(
            List.of(RunSpec.MODEL, PROMPT, RunSpec.TOKENIZER, ADAPTER, RunSpec.BASE_DTYPE));
    flags.addAll(SETTINGS);
    return flags;
  }

  @Override
  public int run(List<String> args, PrintStream out) {
    Flags flags = Flags.parse(this, args);
    String prompt = flags.text(PROMPT);
    int maxNewTokens = (int) flags.integer(MAX_NEW_TOKENS);
    Sampler sampler = sampler(flags);
    Path adapter = flags.optionalPath(ADAPTER);
    BaseDtype baseDtype;
    try {
      baseDtype = BaseDtype.parse(flags.text(RunSpec.BASE_DTYPE));
    } catch (IllegalArgumentException e) {
      throw new UsageException(e.getMessage());
    }
    try (LanguageModel model =
        LanguageModel.load(
            flags.path(RunSpec.MODEL), flags.optionalPath(RunSpec.TOKENIZER), baseDtype, null)) {
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
    if (!flags.has(Sampler.TEMPERATURE)) {
      if (flags.has(Sampler.TOP_P) || flags.has(SEED)) {
        throw new UsageException("--top-p and --seed apply only with --temperature");
      }
      return Sampler.greedy();
    }
    float temperature = flags.number(Sampler.TEMPERATURE);
    float topP = flags.number(Sampler.TOP_P);
    long seed = flags.has(SEED) ? flags.integer(SEED) : System.nanoTime() | 1;
    if (seed == 0) {
      throw new UsageException("--seed must be non-zero");
    }
    return temperature == 0 ? Sampler.greedy() : Sampler.random(temperature, topP, seed);
  }
}
