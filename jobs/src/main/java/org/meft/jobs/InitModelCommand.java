package org.meft.jobs;

import ai.djl.ndarray.types.DataType;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.meft.load.RandomLlama;
import org.meft.model.LlamaConfig;

/**
 * {@code bin/meft init-model}: writes a seeded random LLaMA of any shape as a Hugging Face folder.
 */
public final class InitModelCommand implements Command {
  @Override
  public String name() {
    return "init-model";
  }

  @Override
  public String summary() {
    return "write a random-initialised LLaMA (any shape) with its own tokenizer as a HF folder";
  }

  @Override
  public String usage() {
    return "--output DIR [--dim 64 --hidden-dim 172 --layers 5 --heads 8 --kv-heads 4 --vocab 512"
        + " --seq-len 512 --seed 42 --dtype f32|bf16|f16 --shard-mb MB]";
  }

  @Override
  public int run(List<String> args, PrintStream out) {
    Flags flags =
        Flags.parse(
            name(),
            args,
            Set.of(
                "output",
                "dim",
                "hidden-dim",
                "layers",
                "heads",
                "kv-heads",
                "vocab",
                "seq-len",
                "seed",
                "dtype",
                "shard-mb"),
            Set.of());
    Path output = Path.of(flags.required("output"));
    LlamaConfig config;
    try {
      config =
          LlamaConfig.of(
              flags.integer("dim", 64),
              flags.integer("hidden-dim", 172),
              flags.integer("layers", 5),
              flags.integer("heads", 8),
              flags.integer("kv-heads", 4),
              flags.integer("vocab", 512),
              flags.integer("seq-len", 512));
    } catch (IllegalArgumentException e) {
      throw new UsageException(e.getMessage());
    }
    DataType storeType =
        switch (flags.string("dtype", "f32").toLowerCase(Locale.ROOT)) {
          case "f32" -> DataType.FLOAT32;
          case "bf16" -> DataType.BFLOAT16;
          case "f16" -> DataType.FLOAT16;
          default ->
              throw new UsageException(
                  "--dtype must be f32, bf16 or f16, got '" + flags.string("dtype", "") + "'");
        };
    int shardMb = flags.integer("shard-mb", 0);
    if (shardMb < 0) {
      throw new UsageException("--shard-mb must be >= 0, got " + shardMb);
    }
    if (Files.exists(output)) {
      throw new UsageException(output + " already exists: choose a new --output folder");
    }
    RandomLlama.write(
        output, config, flags.longValue("seed", 42), storeType, shardMb * 1024L * 1024L);
    out.println(output);
    return 0;
  }
}
