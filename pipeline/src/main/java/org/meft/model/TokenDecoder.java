package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The inference pass of one new token per sequence, written for few engine calls (each costs 5 to
 * 10 us on the CPU whatever its size, so at stories260K's size the calls are the cost): the hidden
 * state is [B, D]; the weights are read once, not looked up per token; norms, rotations, gating and
 * residual sums write over arrays the pass made itself (residuals as the biases of the output and
 * down projections); attention reads the cache's whole buffers under a mask instead of views of
 * their filled columns, the keys in the layout the product reads. The arithmetic is {@link
 * Llama#forwardLast}'s (the same operations in the same order, the residual sums fused into the
 * products), but for the norms' reciprocal root (see {@link RmsNorm}); training never comes here.
 *
 * <p>Serves every model: deltas on the projections (LoRA) are added to their products, an FFN
 * adapter (meft, parallel) runs beside the FFN, and a reversible stack composes its layers' blocks
 * ({@link TokenBlocks}) as its architecture says.
 */
public final class TokenDecoder implements AutoCloseable {
  private final LlamaConfig config;
  private final DataType type;
  private final NDManager manager;
  private final NDArray eps; // 0-d float32: the norms' statistics are float32
  private final NDArray minusHalf; // 0-d float32, the norms' power
  private final NDArray sqrtHeadDim; // 0-d, in the weights' type, as the scores are
  private final NDArray embeddings; // [V, D]
  private final List<LayerWeights> layers;
  private final NDArray norm; // [D]
  private final NDArray head; // [V, D]
  private final LayerStack
      lowerStack; // the reversible layers, composing the lowest blocks; or null

  /**
   * One layer's arrays, read once; the deltas on its projections (by name: q, k, v, o, gate, up,
   * down) and the adapters beside its FFN, if any.
   */
  private record LayerWeights(
      int index,
      NDArray attentionNorm,
      NDArray q,
      NDArray k,
      NDArray v,
      NDArray o,
      NDArray ffnNorm,
      NDArray gate,
      NDArray up,
      NDArray down,
      Map<String, LinearDelta> deltas,
      List<FfnAdapter> adapters) {}

  /**
   * Constants and weights for {@code llama} as it is now (weights and adapters installed later are
   * not seen), the constants in a sub-manager of {@code parent}, freed by {@link #close}.
   */
  public TokenDecoder(Llama llama, NDManager parent) {
    this.config = llama.config();
    this.type = llama.dataType();
    this.manager = parent.newSubManager();
    eps = manager.create(config.normEps());
    minusHalf = manager.create(-0.5f);
    sqrtHeadDim = manager.create((float) Math.sqrt(config.headDim())).toType(type, false);
    embeddings = array(llama.tokEmbeddings);
    layers = new ArrayList<>();
    for (DecoderLayer layer : llama.layers()) {
      Attention attention = layer.attention;
      FeedForward ffn = layer.feedForward;
      layers.add(
          new LayerWeights(
              layer.index(),
              array(layer.attentionNorm.weight),
              array(attention.wq),
              array(attention.wk),
              array(attention.wv),
              array(attention.wo),
              array(layer.ffnNorm.weight),
              array(ffn.w1),
              array(ffn.w3),
              array(ffn.w2),
              deltas(attention, ffn),
              layer.ffnAdapters()));
    }
    norm = array(llama.norm.weight);
    head = array(llama.headWeight());
    lowerStack = llama.lowerStack();
  }

  /** The deltas on a layer's projections, by name (q, k, v, o, gate, up, down). */
  private static Map<String, LinearDelta> deltas(Attention attention, FeedForward ffn) {
    Map<String, LinearDelta> deltas = new HashMap<>(attention.deltas());
    deltas.putAll(ffn.deltas());
    return deltas;
  }

  /**
   * tokens [B] int64, each sequence's next token, at cache column {@code cache.length()} -> the
   * logits [B, V] float32; advances the cache by one column. {@code rope}: the rows [B, 1, 1, Dh]
   * of each sequence's position ({@link Rope#gather} of positions [B, 1]); {@code mask}: [B, 1, 1,
   * capacity] float32, 0 on the columns each sequence sees (this column included), -inf elsewhere.
   * {@code ps} serves the FFN adapters.
   */
  public NDArray logits(ParameterStore ps, NDArray tokens, Rope rope, NDArray mask, KvCache cache) {
    long b = tokens.getShape().get(0);
    NDArray x = Embedding.embedding(tokens, embeddings, SparseFormat.DENSE).head(); // [B, D]
    TokenBlocks blocks =
        new TokenBlocks() {
          @Override
          public NDArray attention(int layer, NDArray in) {
            return attentionBlock(ps, layers.get(layer), b, in, rope, mask, cache);
          }

          @Override
          public NDArray mlp(int layer, NDArray h) {
            return mlpBlock(ps, layers.get(layer), h);
          }
        };
    int first = 0;
    if (lowerStack != null) {
      x = lowerStack.decodeToken(ps, x, blocks);
      first = lowerStack.depth();
    }
    for (LayerWeights layer : layers.subList(first, layers.size())) {
      x = blocks.mlp(layer.index(), blocks.attention(layer.index(), x));
    }
    cache.advance(1);
    NDArray normed = RmsNorm.rmsNorm(x, norm, eps, minusHalf);
    return Precision.atLeastFloat32(Linear.linear(normed, head).head());
  }

  /** {@code x + Attn(norm(x))} of one layer on x [B, D]; k and v go in the cache's next column. */
  private NDArray attentionBlock(
      ParameterStore ps,
      LayerWeights w,
      long b,
      NDArray x,
      Rope rope,
      NDArray mask,
      KvCache cache) {
    int hKv = config.nKvHeads();
    int dh = config.headDim();
    NDArray n = RmsNorm.rmsNorm(x, w.attentionNorm(), eps, minusHalf);
    NDArray q = project(ps, n, w.q(), null, w.deltas().get("q"));
    NDArray k = project(ps, n, w.k(), null, w.deltas().get("k"));
    NDArray v = project(ps, n, w.v(), null, w.deltas().get("v"));
    // Query head h reads key/value head h / G: [B, Hkv, G, Dh] is q's own layout.
    q = rope.applyInPlace(q.reshape(b, hKv, config.groupSize(), dh));
    k = rope.applyInPlace(k.reshape(b, hKv, 1, dh));
    cache.write(w.index(), k, v.reshape(b, hKv, 1, dh));
    NDArray scores = q.matMul(cache.keysByColumn(w.index())).divi(sqrtHeadDim); // [B, Hkv, G, C]
    NDArray scores32 = Precision.atLeastFloat32(scores).addi(mask);
    NDArray probabilities = Precision.cast(scores32.softmax(-1), type);
    NDArray attended = probabilities.matMul(cache.values(w.index())); // [B, Hkv, G, Dh]
    NDArray merged = attended.reshape(b, (long) config.nHeads() * dh);
    return project(ps, merged, w.o(), x, w.deltas().get("o"));
  }

  /**
   * {@code h + FFN(norm(h))}, plus each FFN adapter's {@code A(norm(h))}, of one layer on h [B, D].
   */
  private NDArray mlpBlock(ParameterStore ps, LayerWeights w, NDArray h) {
    NDArray hNorm = RmsNorm.rmsNorm(h, w.ffnNorm(), eps, minusHalf);
    NDArray gate = project(ps, hNorm, w.gate(), null, w.deltas().get("gate"));
    gate.muli(Activation.sigmoid(gate));
    gate.muli(project(ps, hNorm, w.up(), null, w.deltas().get("up")));
    NDArray y = project(ps, gate, w.down(), h, w.deltas().get("down"));
    for (FfnAdapter adapter : w.adapters()) {
      NDArray a = adapter.forward(ps, hNorm.expandDims(1), false).reshape(y.getShape());
      y = a.getDataType() == y.getDataType() ? y.addi(a) : y.add(a);
    }
    return y;
  }

  /**
   * x W^T (+ {@code residual}, as the product's bias), plus the projection's delta when it has one
   * (added in place: a delta comes back in x's type).
   */
  private static NDArray project(
      ParameterStore ps, NDArray x, NDArray w, NDArray residual, LinearDelta delta) {
    NDArray y =
        residual == null ? Linear.linear(x, w).head() : Linear.linear(x, w, residual).head();
    return delta == null ? y : y.addi(delta.forward(ps, x, false));
  }

  private static NDArray array(Parameter parameter) {
    return parameter.getArray();
  }

  @Override
  public void close() {
    manager.close();
  }
}
