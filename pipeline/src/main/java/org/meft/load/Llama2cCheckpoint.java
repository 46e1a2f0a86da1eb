package org.meft.load;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.meft.format.CheckpointException;
import org.meft.format.SafetensorsFile;
import org.meft.format.Tensors;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.model.ShapeLimit;

/**
 * Reads a llama2.c checkpoint ({@code run.c}'s legacy format): 7 int32 (dim, hidden_dim, n_layers,
 * n_heads, n_kv_heads, vocab_size, seq_len; negative vocab_size means an untied classifier
 * follows), then float32 arrays: token embedding [V, D]; rms_att [L, D]; wq [L, D, D]; wk [L, KV,
 * D]; wv [L, KV, D]; wo [L, D, D]; rms_ffn [L, D]; w1 [L, F, D]; w2 [L, D, F]; w3 [L, F, D];
 * rms_final [D]; two unused RoPE tables [seq_len, Dh/2]; the classifier [V, D] when untied.
 *
 * <p>llama2.c rotates interleaved pairs (2i, 2i+1); {@link Llama} rotates halves (i, i + Dh/2), as
 * Hugging Face does, so the q/k rows of each head are permuted on load: evens first, then odds.
 */
public final class Llama2cCheckpoint {
  private static final int HEADER_BYTES = 7 * Integer.BYTES;
  private static final int VERSIONED_MAGIC = 0x616b3432; // "ak42", llama2.c export v1+

  private Llama2cCheckpoint() {}

  /**
   * Reads the config and loads every weight of {@code model} into arrays of {@code manager}, one
   * tensor at a time by positional reads (a file over 2 GiB is read like any other).
   */
  public static Llama load(Path file, NDManager manager, DataType dataType) {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
        SafetensorsFile.ReadBuffers buffers = new SafetensorsFile.ReadBuffers()) {
      LlamaConfig config = readConfig(file, channel);
      Llama model = new Llama(config);
      loadWeights(new Reader(channel, buffers, manager, dataType), model);
      return model;
    } catch (NoSuchFileException e) {
      throw new CheckpointException(file, "not found");
    } catch (IOException e) {
      throw new CheckpointException(file, "cannot read: " + e.getMessage(), e);
    }
  }

  /** The shape in {@code file}'s header, checked against the file's size; no weight is read. */
  public static LlamaConfig readConfig(Path file) {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      return readConfig(file, channel);
    } catch (NoSuchFileException e) {
      throw new CheckpointException(file, "not found");
    } catch (IOException e) {
      throw new CheckpointException(file, "cannot read: " + e.getMessage(), e);
    }
  }

  private static LlamaConfig readConfig(Path file, FileChannel channel) throws IOException {
    long size = channel.size();
    if (size < HEADER_BYTES) {
      throw new CheckpointException(
          file, "too short for a llama2.c header (" + size + " bytes, expected at least 28)");
    }
    ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    Tensors.readFully(channel, header, 0);
    return readConfig(file, header, size);
  }

  private static LlamaConfig readConfig(Path file, ByteBuffer data, long size) {
    int[] h = new int[7];
    for (int i = 0; i < 7; i++) {
      h[i] = data.getInt(i * Integer.BYTES);
    }
    if (h[0] == VERSIONED_MAGIC) {
      throw new CheckpointException(
          file,
          "llama2.c export version "
              + h[1]
              + " is not supported: export with the legacy (version 0) format, or convert to a"
              + " Hugging Face folder");
    }
    LlamaConfig config;
    try {
      int dim = ShapeLimit.WIDTH.check("dim", h[0]);
      int hiddenDim = ShapeLimit.FFN_WIDTH.check("hidden_dim", h[1]);
      int nLayers = ShapeLimit.LAYERS.check("n_layers", h[2]);
      int nHeads = ShapeLimit.HEADS.check("n_heads", h[3]);
      int nKvHeads = ShapeLimit.HEADS.check("n_kv_heads", h[4]);
      int vocab =
          ShapeLimit.VOCABULARY.check("vocab_size (its absolute value)", Math.abs((long) h[5]));
      int seqLen = ShapeLimit.POSITIONS.check("seq_len", h[6]);
      if (dim % nHeads != 0) {
        throw new IllegalArgumentException(
            "dim (" + dim + ") must be a multiple of n_heads (" + nHeads + ")");
      }
      if (nHeads % nKvHeads != 0) {
        throw new IllegalArgumentException(
            "n_heads (" + nHeads + ") must be a multiple of n_kv_heads (" + nKvHeads + ")");
      }
      config =
          LlamaConfig.of(dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, seqLen)
              .withTiedEmbeddings(h[5] > 0);
    } catch (IllegalArgumentException e) {
      throw new CheckpointException(
          file,
          "not a llama2.c checkpoint: header "
              + List.of(h[0], h[1], h[2], h[3], h[4], h[5], h[6])
              + ": "
              + e.getMessage());
    }
    for (Llama.Weight weight : Llama.weightShapes(config)) {
      long bytes = weight.shape().size() * Float.BYTES;
      if (bytes > Integer.MAX_VALUE) {
        throw new CheckpointException(
            file,
            weight.name(),
            "needs "
                + bytes
                + " bytes, more than the 2 GiB one tensor can be read in (header "
                + List.of(h[0], h[1], h[2], h[3], h[4], h[5], h[6])
                + ")");
      }
    }
    long expected = HEADER_BYTES + 4L * floatCount(config);
    if (size != expected) {
      throw new CheckpointException(
          file,
          "size "
              + size
              + " bytes does not match its header (dim "
              + h[0]
              + ", hidden "
              + h[1]
              + ", layers "
              + h[2]
              + ", heads "
              + h[3]
              + "/"
              + h[4]
              + ", vocab "
              + h[5]
              + ", seq "
              + h[6]
              + "), which needs "
              + expected
              + " bytes");
    }
    return config;
  }

  private static long floatCount(LlamaConfig c) {
    long d = c.dim();
    long l = c.nLayers();
    long kv = c.kvDim();
    long f = c.hiddenDim();
    long count = c.vocabSize() * d + l * d + l * d * d + 2 * l * kv * d + l * d * d + l * d;
    count += 3 * l * f * d + d + (long) c.maxSeqLen() * c.headDim();
    return c.tiedEmbeddings() ? count : count + c.vocabSize() * d;
  }

  /** The file's tensors, in its order: each kind for every layer before the next kind. */
  private static final List<String> LAYER_WEIGHTS =
      List.of(
          "input_layernorm",
          "self_attn.q_proj",
          "self_attn.k_proj",
          "self_attn.v_proj",
          "self_attn.o_proj",
          "post_attention_layernorm",
          "mlp.gate_proj",
          "mlp.down_proj",
          "mlp.up_proj");

  private static void loadWeights(Reader reader, Llama model) throws IOException {
    LlamaConfig c = model.config();
    Map<String, Llama.Weight> weights = new HashMap<>();
    model.weights().forEach(w -> weights.put(w.name(), w));
    reader.read(weights.get("model.embed_tokens.weight"));
    for (String kind : LAYER_WEIGHTS) {
      for (int layer = 0; layer < c.nLayers(); layer++) {
        Llama.Weight w = weights.get("model.layers." + layer + "." + kind + ".weight");
        NDArray array = reader.next(w.shape());
        // llama2.c stores q and k with interleaved rotary pairs; the model rotates halves.
        if (kind.equals("self_attn.q_proj")) {
          array = toRotateHalf(array, c.nHeads());
        } else if (kind.equals("self_attn.k_proj")) {
          array = toRotateHalf(array, c.nKvHeads());
        }
        w.parameter().setArray(array);
      }
    }
    reader.read(weights.get("model.norm.weight"));
    reader.skip((long) c.maxSeqLen() * c.headDim()); // freq_cis_real, freq_cis_imag
    if (weights.containsKey("lm_head.weight")) {
      reader.read(weights.get("lm_head.weight"));
    }
  }

  /** w [heads * Dh, D] with interleaved rotary rows -> the same rows, evens then odds per head. */
  static NDArray toRotateHalf(NDArray w, int heads) {
    Shape shape = w.getShape();
    long dh = shape.get(0) / heads;
    try (NDArray interleaved = w) {
      return interleaved
          .reshape(heads, dh / 2, 2, shape.get(1))
          .transpose(0, 2, 1, 3)
          .reshape(shape)
          .duplicate();
    }
  }

  /** Sequential float32 reader over the file, copying each array into the manager. */
  private static final class Reader {
    private final FileChannel channel;
    private final SafetensorsFile.ReadBuffers buffers;
    private final NDManager manager;
    private final DataType dataType;
    private long position = HEADER_BYTES;

    Reader(
        FileChannel channel,
        SafetensorsFile.ReadBuffers buffers,
        NDManager manager,
        DataType dataType) {
      this.channel = channel;
      this.buffers = buffers;
      this.manager = manager;
      this.dataType = dataType;
    }

    void read(Llama.Weight weight) throws IOException {
      weight.parameter().setArray(next(weight.shape()));
    }

    /** The next array of {@code shape} (its bytes were checked to fit an int by readConfig). */
    NDArray next(Shape shape) throws IOException {
      int bytes = Math.toIntExact(shape.size() * Float.BYTES);
      ByteBuffer buffer = buffers.raw(bytes);
      Tensors.readFully(channel, buffer, position);
      buffer.flip();
      position += bytes;
      return Tensors.ownedCopy(manager.create(buffer, shape, DataType.FLOAT32), dataType);
    }

    void skip(long floats) {
      position += floats * Float.BYTES;
    }
  }
}
