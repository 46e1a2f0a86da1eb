package org.meft.load;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.meft.format.CheckpointException;
import org.meft.model.BaseDtype;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.stop.NativeGate;
import org.meft.tokenizer.TextTokenizer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A loaded model with its tokenizer and the manager that owns its weights; closing it frees them.
 * Every base parameter starts frozen: training code unfreezes what it trains.
 */
public final class LanguageModel implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(LanguageModel.class);
  private final NDManager manager;
  private final Llama llama;
  private final TextTokenizer tokenizer;

  private LanguageModel(NDManager manager, Llama llama, TextTokenizer tokenizer) {
    this.manager = manager;
    this.llama = llama;
    this.tokenizer = tokenizer;
  }

  /**
   * Loads {@code path}: a Hugging Face folder (tokenizer.json inside unless {@code tokenizer} is
   * given) or a llama2.c {@code .bin} file (then {@code tokenizer} is required). Pickled PyTorch
   * files are refused.
   */
  public static LanguageModel load(Path path, Path tokenizer, DataType dataType) {
    return load(path, tokenizer, dataType, null);
  }

  /**
   * As {@link #load(Path, Path, DataType)}, with the weights (and every array the model makes) on
   * {@code device}; null means the engine's default device.
   */
  public static LanguageModel load(Path path, Path tokenizer, DataType dataType, Device device) {
    if (!Files.exists(path)) {
      throw new CheckpointException(path, "model not found");
    }
    boolean folder = Files.isDirectory(path);
    if (!folder) {
      refuseUnsupportedFile(path);
      if (tokenizer == null) {
        throw new CheckpointException(
            path, "a llama2.c checkpoint carries no tokenizer: pass --tokenizer tokenizer.json");
      }
    }
    LlamaConfig config =
        folder ? HuggingFaceCheckpoint.readConfig(path) : Llama2cCheckpoint.readConfig(path);
    TextTokenizer text = TextTokenizer.open(tokenizer != null ? tokenizer : path);
    if (text.vocabularySize() > config.vocabSize()) {
      text.close();
      throw new CheckpointException(
          text.path(),
          "the tokenizer has "
              + text.vocabularySize()
              + " tokens (ids up to "
              + (text.vocabularySize() - 1)
              + "), more than the model's vocabulary of "
              + config.vocabSize()
              + " ("
              + path
              + "): use the model's own tokenizer");
    }
    NDManager manager = NDManager.newBaseManager(device);
    try (NativeGate.Section section = NativeGate.enter()) {
      Llama llama =
          folder
              ? HuggingFaceCheckpoint.load(path, manager, dataType)
              : Llama2cCheckpoint.load(path, manager, dataType);
      llama.freezeParameters(true);
      return new LanguageModel(manager, llama, text);
    } catch (RuntimeException e) {
      manager.close();
      text.close();
      throw e;
    }
  }

  public static LanguageModel load(Path path, Path tokenizer) {
    return load(path, tokenizer, DataType.FLOAT32);
  }

  /**
   * As {@link #load(Path, Path, DataType, Device)}, with the base weights in {@code baseDtype}
   * resolved against the checkpoint's own type and {@code device} ({@link BaseDtype#resolve}). BF16
   * becomes F16 with a warning: DJL (0.35.1 and 0.36.0) aborts the JVM on any bfloat16 array.
   */
  public static LanguageModel load(Path path, Path tokenizer, BaseDtype baseDtype, Device device) {
    Device target = device != null ? device : Engine.getInstance().defaultDevice();
    DataType stored = Files.isDirectory(path) ? HuggingFaceCheckpoint.storedType(path) : null;
    BaseDtype resolved = baseDtype.resolve(target.isGpu(), stored);
    if (resolved == BaseDtype.BF16) {
      LOG.warn(
          "base-dtype bf16 is held as f16: DJL's PyTorch engine aborts on bfloat16 arrays. f16"
              + " keeps 3 more mantissa bits but its range ends at 65504 (bf16's at 3.4e38): a"
              + " weight or activation beyond it becomes inf; use --base-dtype f32 if losses or"
              + " logits turn inf or NaN");
      resolved = BaseDtype.F16;
    }
    return load(path, tokenizer, resolved.dataType(), device);
  }

  private static void refuseUnsupportedFile(Path file) {
    String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
    if (name.endsWith(".safetensors")) {
      throw new CheckpointException(
          file, "pass the Hugging Face folder that holds this file and its config.json");
    }
    if (name.endsWith(".pt")
        || name.endsWith(".pth")
        || name.endsWith(".ckpt")
        || name.endsWith(".pkl")
        || isPickle(file)) {
      throw new CheckpointException(
          file,
          "looks like a pickled PyTorch checkpoint, which is never loaded because unpickling can"
              + " run arbitrary code; convert it to safetensors (safetensors.torch.save_file) in a"
              + " Hugging Face folder");
    }
    if (!name.endsWith(".bin")) {
      throw new CheckpointException(
          file, "unknown model format: expected a Hugging Face folder or a llama2.c .bin file");
    }
  }

  /** torch.save writes a zip archive ("PK") or, before PyTorch 1.6, a pickle (protocol opcode). */
  private static boolean isPickle(Path file) {
    byte[] head = new byte[2];
    try (InputStream in = Files.newInputStream(file)) {
      int read = in.readNBytes(head, 0, 2);
      return read == 2 && ((head[0] == 'P' && head[1] == 'K') || (head[0] & 0xff) == 0x80);
    } catch (IOException e) {
      throw new CheckpointException(file, "cannot read: " + e.getMessage(), e);
    }
  }

  public Llama llama() {
    return llama;
  }

  public LlamaConfig config() {
    return llama.config();
  }

  public TextTokenizer tokenizer() {
    return tokenizer;
  }

  /** The manager that owns the weights; per-call work should use a sub-manager of it. */
  public NDManager manager() {
    return manager;
  }

  @Override
  public void close() {
    tokenizer.close();
    try (NativeGate.Section section = NativeGate.enter()) {
      manager.close();
    }
  }
}
