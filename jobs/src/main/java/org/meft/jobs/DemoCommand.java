package org.meft.jobs;

import ai.djl.ndarray.types.DataType;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.meft.generate.Generator;
import org.meft.generate.Sampler;
import org.meft.model.LanguageModel;
import org.meft.model.LlamaConfig;
import org.meft.model.RandomLlama;

/**
 * {@code bin/meft demo}: the main job on the embedded default, needing nothing but the repository.
 * Today it writes the seeded random model and decodes with it (and, with {@code --real}, with the
 * real stories260K model from ../shared); the training pipeline joins it as it lands.
 */
public final class DemoCommand implements Command {
  static final LlamaConfig DEMO_SHAPE = LlamaConfig.of(64, 172, 5, 8, 4, 512, 512);
  private static final List<String> PROMPTS =
      List.of("Once upon a time", "Question: what is 12 + 30?", "The tool list_files takes");

  @Override
  public String name() {
    return "demo";
  }

  @Override
  public String summary() {
    return "run the main job on the embedded default (random model; --real: ../shared's model)";
  }

  @Override
  public String usage() {
    return "[--output DIR (default work/demo)] [--real] [--shared DIR (default ../shared)]";
  }

  @Override
  public int run(List<String> args, PrintStream out) {
    Flags flags = Flags.parse(name(), args, Set.of("output", "shared"), Set.of("real"));
    Path output = Path.of(flags.string("output", "work/demo"));
    Path model;
    if (flags.has("real")) {
      model = Path.of(flags.string("shared", "../shared")).resolve("models/stories260K-hf");
      if (!Files.isDirectory(model)) {
        throw new UsageException(
            model + " not found: --real needs the shared models (see --shared)");
      }
    } else {
      model = output.resolve("random-model");
      if (!Files.exists(model.resolve("config.json"))) {
        RandomLlama.write(model, DEMO_SHAPE, 42, DataType.FLOAT32, 0);
      }
    }
    out.println("model: " + model);
    try (LanguageModel loaded = LanguageModel.load(model, null)) {
      for (String prompt : PROMPTS) {
        Generator.Generation generation = Generator.generate(loaded, prompt, 24, Sampler.greedy());
        double tokensPerSecond = generation.newIds().length / Math.max(generation.seconds(), 1e-9);
        out.printf(
            "%n[%d new tokens, %.0f tokens/s] %s%n",
            generation.newIds().length,
            tokensPerSecond,
            loaded.tokenizer().decode(generation.allIds()));
      }
    }
    return 0;
  }
}
