package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A LLaMA/Mistral decoder: token embedding, {@code nLayers} pre-norm decoder layers, final RMSNorm
 * and an output head (the embedding itself when tied). Input token ids [B, T] (int32 or int64),
 * output logits [B, T, V] in float32 whatever the weights' type (the residual stream and the
 * products run in the weights' type; see {@link RmsNorm} and {@link Attention} for what stays
 * float32).
 *
 * <p>Parameters are declared without shapes and set by a loader through {@link #weights()}, which
 * names each one as the Hugging Face checkpoint does and gives the shape the config implies.
 */
public final class Llama extends AbstractBlock {
  final Parameter tokEmbeddings; // embed_tokens [V, D]
  final List<DecoderLayer> layers;
  final RmsNorm norm; // [D]
  final Parameter output; // lm_head [V, D]; null when tied to tokEmbeddings
  private final LlamaConfig config;
  private LayerStack lowerStack; // null: every layer runs as a plain decoder layer

  /** A checkpoint tensor: its Hugging Face name, the shape the config implies, the parameter. */
  public record Weight(String name, Shape shape, Parameter parameter) {}

  public Llama(LlamaConfig config) {
    this.config = config;
    tokEmbeddings = addParameter(FeedForward.weight("tok_embeddings"));
    List<DecoderLayer> blocks = new ArrayList<>();
    for (int i = 0; i < config.nLayers(); i++) {
      blocks.add(addChildBlock("layers_" + i, new DecoderLayer(config, i)));
    }
    layers = Collections.unmodifiableList(blocks);
    norm = addChildBlock("norm", new RmsNorm(config.normEps()));
    output = config.tiedEmbeddings() ? null : addParameter(FeedForward.weight("output"));
  }

  /** The decoder layers, in order. */
  public List<DecoderLayer> layers() {
    return layers;
  }

  public LlamaConfig config() {
    return config;
  }

  /** Every parameter, in Hugging Face checkpoint naming and order, with its expected shape. */
  public List<Weight> weights() {
    List<Parameter> parameters = new ArrayList<>();
    parameters.add(tokEmbeddings);
    for (DecoderLayer layer : layers) {
      parameters.add(layer.attentionNorm.weight);
      parameters.add(layer.attention.wq);
      parameters.add(layer.attention.wk);
      parameters.add(layer.attention.wv);
      parameters.add(layer.attention.wo);
      parameters.add(layer.ffnNorm.weight);
      parameters.add(layer.feedForward.w1);
      parameters.add(layer.feedForward.w3);
      parameters.add(layer.feedForward.w2);
    }
    parameters.add(norm.weight);
    if (output != null) {
      parameters.add(output);
    }
    List<Weight> shapes = weightShapes(config);
    List<Weight> weights = new ArrayList<>(shapes.size());
    for (int i = 0; i < shapes.size(); i++) {
      weights.add(new Weight(shapes.get(i).name(), shapes.get(i).shape(), parameters.get(i)));
    }
    return weights;
  }

  /**
   * The weights a model of {@code config} has, in the order of {@link #weights()}, without
   * parameters (null): what a loader checks a checkpoint against before any layer is built.
   */
  public static List<Weight> weightShapes(LlamaConfig config) {
    int d = config.dim();
    int f = config.hiddenDim();
    int qDim = config.nHeads() * config.headDim();
    int kvDim = config.kvDim();
    List<Weight> weights = new ArrayList<>();
    weights.add(new Weight("model.embed_tokens.weight", new Shape(config.vocabSize(), d), null));
    for (int i = 0; i < config.nLayers(); i++) {
      String p = "model.layers." + i + ".";
      weights.add(new Weight(p + "input_layernorm.weight", new Shape(d), null));
      weights.add(new Weight(p + "self_attn.q_proj.weight", new Shape(qDim, d), null));
      weights.add(new Weight(p + "self_attn.k_proj.weight", new Shape(kvDim, d), null));
      weights.add(new Weight(p + "self_attn.v_proj.weight", new Shape(kvDim, d), null));
      weights.add(new Weight(p + "self_attn.o_proj.weight", new Shape(d, qDim), null));
      weights.add(new Weight(p + "post_attention_layernorm.weight", new Shape(d), null));
      weights.add(new Weight(p + "mlp.gate_proj.weight", new Shape(f, d), null));
      weights.add(new Weight(p + "mlp.up_proj.weight", new Shape(f, d), null));
      weights.add(new Weight(p + "mlp.down_proj.weight", new Shape(d, f), null));
    }
    weights.add(new Weight("model.norm.weight", new Shape(d), null));
    if (!config.tiedEmbeddings()) {
      weights.add(new Weight("lm_head.weight", new Shape(config.vocabSize(), d), null));
    }
    return weights;
  }

  /** The weight with this checkpoint name. */
  public Weight weight(String name) {
    return weights().stream()
        .filter(w -> w.name().equals(name))
        .findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no weight named " + name));
  }

  /**
   * tokens [B, T] at positions [cache.length(), cache.length() + T) -> logits [B, T, V]. The cache
   * (may be null: positions from 0, nothing kept) receives this pass's keys and values.
   */
  public NDArray forward(ParameterStore ps, NDArray tokens, KvCache cache, boolean training) {
    int start = cache == null ? 0 : cache.length();
    LayerPass pass = LayerPass.of(ps, rope(tokens, start), training).at(start, null, cache);
    return forward(pass, tokens);
  }

  /** tokens [B, T] -> logits [B, T, V] float32, through {@code pass}; advances its cache. */
  public NDArray forward(LayerPass pass, NDArray tokens) {
    NDArray x = layers(pass, embed(pass.ps(), tokens, pass.training()), 0); // [B, T, D]
    if (pass.cache() != null) {
      pass.cache().advance((int) tokens.getShape().get(1));
    }
    return head(pass, x);
  }

  /**
   * Inference over a batch whose sequences sit at their own positions (a left-padded batch): tokens
   * [B, T] in cache columns [cache.length(), cache.length() + T), their rotary tables {@code rope}
   * ([B, T, 1, Dh], from {@link Rope#gather}) and the attention mask of {@link Attention#forward}
   * (null: causal) -> the logits of the last column only, [B, V] float32.
   */
  public NDArray forwardLast(
      ParameterStore ps, NDArray tokens, Rope rope, NDArray mask, KvCache cache) {
    LayerPass pass = LayerPass.of(ps, rope, false).at(cache.length(), mask, cache);
    long b = tokens.getShape().get(0);
    int t = (int) tokens.getShape().get(1);
    NDArray x = layers(pass, embed(ps, tokens, false), 0);
    cache.advance(t);
    if (t > 1) {
      x = x.get(":, -1:, :"); // [B, 1, D]: only the last column's logits are read
    }
    return head(pass, x).reshape(b, config.vocabSize());
  }

  /**
   * The one-token inference pass ({@link LayerPass#oneToken}): tokens [B] int64, each sequence's
   * next token, at cache column {@code cache.length()} -> the logits [B, V] float32; advances the
   * cache by one column.
   */
  public NDArray forwardToken(LayerPass pass, NDArray tokens) {
    NDArray x = layers(pass, embed(pass.ps(), tokens, false), 0); // [B, D]
    pass.cache().advance(1);
    return head(pass, x);
  }

  /**
   * x_first [B, T, D] (in the one-token pass [B, D]) through decoder layers {@code first} to the
   * last (from 0, the lowest through the {@link #setLowerStack lower stack} when one is set).
   */
  public NDArray layers(LayerPass pass, NDArray x, int first) {
    if (first == 0 && lowerStack != null) {
      x = lowerStack.forward(pass, x);
      first = lowerStack.depth();
    }
    NDManager manager = x.getManager();
    for (DecoderLayer layer : layers.subList(first, layers.size())) {
      if (pass.training() || pass.isOneToken()) {
        x = layer.forward(pass, x);
        continue;
      }
      // In inference each layer's intermediates (a prompt's scores are [B, H, T, T]) are freed when
      // the layer ends, so that a long batched prompt holds one layer's at a time, not every
      // layer's.
      try (NDManager scope = manager.newSubManager()) {
        x.tempAttach(scope);
        NDArray y = layer.forward(pass, x);
        y.attach(manager);
        x = y;
      }
    }
    return x;
  }

  /**
   * Runs {@code stack} in place of the lowest {@code stack.depth()} layers from now on (null: back
   * to the plain decoder).
   */
  public void setLowerStack(LayerStack stack) {
    if (stack != null && (stack.depth() < 1 || stack.depth() > layers.size())) {
      throw new IllegalArgumentException(
          "a lower stack of " + stack.depth() + " layers in a model of " + layers.size());
    }
    lowerStack = stack;
  }

  /** The stack set in place of the lowest layers, or null. */
  public LayerStack lowerStack() {
    return lowerStack;
  }

  /** The rotary tables of every position the model has, to {@link Rope#gather} from. */
  public Rope ropeTable(NDManager manager) {
    return Rope.table(
        manager, config.maxSeqLen(), config.headDim(), config.ropeTheta(), dataType());
  }

  /** tokens [B, T] -> the first layer's input x_0 [B, T, D]. */
  public NDArray embed(ParameterStore ps, NDArray tokens, boolean training) {
    NDArray embeddings = ps.getValue(tokEmbeddings, tokens.getDevice(), training);
    return Embedding.embedding(tokens, embeddings, SparseFormat.DENSE).head();
  }

  /** The rotary tables for tokens [B, T] at positions [start, start + T), in tokens' manager. */
  public Rope rope(NDArray tokens, int start) {
    int t = (int) tokens.getShape().get(1);
    return Rope.at(tokens.getManager(), start, t, config.headDim(), config.ropeTheta(), dataType());
  }

  /** The last layer's output x [B, T, D] -> logits [B, T, V]: final RMSNorm, then the head. */
  public NDArray head(ParameterStore ps, NDArray x, boolean training) {
    return head(LayerPass.of(ps, null, training), x);
  }

  /** As {@link #head(ParameterStore, NDArray, boolean)}, in {@code pass}. */
  public NDArray head(LayerPass pass, NDArray x) {
    return head(pass, x, pass.value(headWeight(), x));
  }

  /** As {@link #head(LayerPass, NDArray)}, with the head's weight [V, D] given. */
  public NDArray head(LayerPass pass, NDArray x, NDArray weight) {
    NDArray normed = norm.forward(pass, x);
    return Precision.atLeastFloat32(Linear.linear(normed, weight).head()); // the loss is float32
  }

  /** The head's weight [V, D]: lm_head, or embed_tokens when tied. */
  public Parameter headWeight() {
    return output == null ? tokEmbeddings : output;
  }

  /**
   * True when the token embeddings train (full fine-tuning), so that a backward must reach them.
   */
  public boolean embeddingsTrain() {
    return tokEmbeddings.getArray().hasGradient();
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
    return new NDList(forward(ps, inputs.singletonOrThrow(), null, training));
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    Shape tokens = inputShapes[0];
    return new Shape[] {new Shape(tokens.get(0), tokens.get(1), config.vocabSize())};
  }

  /**
   * Bytes held by the base weights, counted from each loaded tensor's size and type (a tied head
   * counted once).
   */
  public long weightBytes() {
    long bytes = 0;
    for (Weight weight : weights()) {
      NDArray array = weight.parameter().getArray();
      bytes += array.size() * array.getDataType().getNumOfBytes();
    }
    return bytes;
  }

  /** The data type of the loaded weights (the compute type). */
  public DataType dataType() {
    return tokEmbeddings.getArray().getDataType();
  }
}
