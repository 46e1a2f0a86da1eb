package org.meft.jobs;

import ai.djl.ndarray.types.DataType;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.meft.load.RandomLlama;
import org.meft.model.LlamaConfig;
import org.meft.model.ShapeLimit;
import org.meft.settings.Range;
import org.meft.settings.Setting;

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

  private static final Setting DIM =
      Setting.integer("dim", 64, Range.closed(2, ShapeLimit.WIDTH.max()), "model width D");
  private static final Setting HIDDEN_DIM =
      Setting.integer("hidden-dim", 172, Range.closed(1, ShapeLimit.FFN_WIDTH.max()), "FFN width");
  private static final Setting LAYERS =
      Setting.integer("layers", 5, Range.closed(1, ShapeLimit.LAYERS.max()), "decoder layers");
  private static final Setting HEADS =
      Setting.integer(
          "heads", 8, Range.closed(1, ShapeLimit.HEADS.max()), "query heads (dividing dim)");
  private static final Setting KV_HEADS =
      Setting.integer(
          "kv-heads",
          4,
          Range.closed(1, ShapeLimit.HEADS.max()),
          "key/value heads (dividing heads)");
  private static final Setting VOCAB =
      Setting.integer(
          "vocab", 512, Range.closed(1, ShapeLimit.VOCABULARY.max()), "vocabulary size");
  private static final Setting SEQ_LEN =
      Setting.integer(
          "seq-len", 512, Range.closed(1, ShapeLimit.POSITIONS.max()), "positions the model has");
  private static final Setting SEED = Setting.integer("seed", 42, Range.ANY, "the weights' seed");
  private static final Setting SHARD_MB =
      Setting.integer(
          "shard-mb", 0, Range.closed(0, 1 << 20), "shards of at most this many MiB (0: one file)");
  private static final List<Setting> SETTINGS =
      List.of(DIM, HIDDEN_DIM, LAYERS, HEADS, KV_HEADS, VOCAB, SEQ_LEN, SEED, SHARD_MB);

  private static final Setting OUTPUT =
      Setting.required("output", Setting.Kind.TEXT, Range.ANY, "a new folder for the model");
  private static final Setting DTYPE =
      Setting.text("dtype", "f32", "the weights' type on disk: f32, bf16 or f16");

  @Override
  public List<Setting> flags() {
    List<Setting> flags = new java.util.ArrayList<>(List.of(OUTPUT, DTYPE));
    flags.addAll(SETTINGS);
    return flags;
  }

  @Override
  public int run(List<String> args, PrintStream out) {
    Flags flags = Flags.parse(this, args);
    Path output = flags.path(OUTPUT);
    LlamaConfig config;
    try {
      config =
          LlamaConfig.of(
              (int) flags.integer(DIM),
              (int) flags.integer(HIDDEN_DIM),
              (int) flags.integer(LAYERS),
              (int) flags.integer(HEADS),
              (int) flags.integer(KV_HEADS),
              (int) flags.integer(VOCAB),
              (int) flags.integer(SEQ_LEN));
    } catch (IllegalArgumentException e) {
      throw new UsageException(e.getMessage());
    }
    DataType storeType =
        switch (flags.text(DTYPE).toLowerCase(Locale.ROOT)) {
          case "f32" -> DataType.FLOAT32;
          case "bf16" -> DataType.BFLOAT16;
          case "f16" -> DataType.FLOAT16;
          default ->
              throw new UsageException(
                  "--dtype must be f32, bf16 or f16, got '" + flags.text(DTYPE) + "'");
        };
    long shardMb = flags.integer(SHARD_MB);
    if (Files.exists(output)) {
      throw new UsageException(output + " already exists: choose a new --output folder");
    }
    RandomLlama.write(output, config, flags.integer(SEED), storeType, shardMb * 1024L * 1024L);
    out.println(output);
    return 0;
  }
}
