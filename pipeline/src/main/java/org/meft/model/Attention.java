package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.Arrays;
import java.util.Map;

/**
 * Causal grouped-query self-attention with RoPE: H query heads share Hkv key/value heads, query
 * head h reading key/value head h / (H / Hkv).
 *
 * <pre>
 *   q = RoPE(x wq^T), k = RoPE(x wk^T), v = x wv^T
 *   out = softmax(q k^T / sqrt(Dh) + causal mask) v wo^T
 *   (each x W^T plus its projection's delta, when one is installed)
 * </pre>
 *
 * <p>Products run in the weights' type; the softmax runs in float32.
 */
public final class Attention extends AbstractBlock {
  /**
   * The float32 scores one chunk of a prefill without gradient holds at most ({@link
   * #attendInChunks}): glibc's largest reused allocation (its mmap threshold grows up to 32 MiB),
   * so on the CPU each chunk's buffers come back from the heap instead of fresh mapped pages; on a
   * GPU it bounds the prefill's transient memory whatever the prompt's length.
   */
  public static final long SCORE_CHUNK_BYTES = 32L << 20;

  final Parameter wq; // q_proj [H*Dh, D]
  final Parameter wk; // k_proj [Hkv*Dh, D]
  final Parameter wv; // v_proj [Hkv*Dh, D]
  final Parameter wo; // o_proj [D, H*Dh]
  private final LlamaConfig config;
  private final ProjectionDeltas deltas = new ProjectionDeltas();

  public Attention(LlamaConfig config) {
    this.config = config;
    wq = addParameter(FeedForward.weight("wq"));
    wk = addParameter(FeedForward.weight("wk"));
    wv = addParameter(FeedForward.weight("wv"));
    wo = addParameter(FeedForward.weight("wo"));
  }

  /**
   * x [B, T, D] at the pass's positions [start, start + T) -> {@code residual + Attn(x)} (residual
   * null: Attn(x)), [B, T, D]. With the pass's cache, the new keys and values go in layer {@code
   * layer}'s columns and the queries attend to every cached position as well. The pass's mask
   * (null: causal from start) is the additive float32 [B, 1, 1, T, Tall] over the cached and new
   * columns: 0 where a query may see a key, -inf where not (a left-padded batch hides its pad
   * columns, and each sequence's later columns). In the one-token pass x is [B, D].
   */
  public NDArray forward(LayerPass pass, NDArray x, NDArray residual, int layer) {
    // q, k, v: x W^T plus the projection's delta (LoRA), if any; q and k are rotated after it.
    NDArray q = deltas.project(pass, x, "q", wq, null);
    NDArray k = deltas.project(pass, x, "k", wk, null);
    NDArray v = deltas.project(pass, x, "v", wv, null);
    NDArray merged =
        pass.isOneToken()
            ? attendOneToken(pass, q, k, v, layer)
            : attendSequence(pass, q, k, v, layer);
    return deltas.project(pass, merged, "o", wo, residual);
  }

  /** q [B, T, H*Dh], k and v [B, T, Hkv*Dh] -> the attended heads merged, [B, T, H*Dh]. */
  private NDArray attendSequence(LayerPass pass, NDArray q, NDArray k, NDArray v, int layer) {
    long b = q.getShape().get(0);
    long t = q.getShape().get(1);
    int h = config.nHeads();
    int hKv = config.nKvHeads();
    int dh = config.headDim();
    q = pass.rope().apply(q.reshape(b, t, h, dh)); // [B, T, H, Dh]
    k = pass.rope().apply(k.reshape(b, t, hKv, dh)).transpose(0, 2, 1, 3); // [B, Hkv, T, Dh]
    v = v.reshape(b, t, hKv, dh).transpose(0, 2, 1, 3);
    if (pass.cache() != null) {
      NDArray[] kv = pass.cache().append(layer, k, v);
      k = kv[0];
      v = kv[1];
    }
    // Group the query heads by the key/value head they read: [B, Hkv, G, T, Dh].
    NDArray qGrouped = q.transpose(0, 2, 1, 3).reshape(b, hKv, config.groupSize(), t, dh);
    NDArray keysT = k.expandDims(2).transpose(0, 1, 2, 4, 3); // [B, Hkv, 1, Dh, Tall]
    NDArray values = v.expandDims(2); // [B, Hkv, 1, Tall, Dh]
    NDArray mask = pass.mask();
    int start = pass.start();
    NDArray attended = // [B, Hkv, G, T, Dh]
        qGrouped.hasGradient() || keysT.hasGradient() || values.hasGradient()
            ? attend(qGrouped, keysT, values, mask, start, false)
            : attendInChunks(qGrouped, keysT, values, mask, start, SCORE_CHUNK_BYTES);
    return attended.reshape(b, h, t, dh).transpose(0, 2, 1, 3).reshape(b, t, h * dh);
  }

  /**
   * The one-token pass: q [B, H*Dh], k and v [B, Hkv*Dh] -> [B, H*Dh]; q and k rotated in place, k
   * and v written in the cache's next column, the scores taken over the cache's whole buffers under
   * the pass's mask (the keys in the layout the product reads) instead of views of their filled
   * columns.
   */
  private NDArray attendOneToken(LayerPass pass, NDArray q, NDArray k, NDArray v, int layer) {
    long b = q.getShape().get(0);
    int hKv = config.nKvHeads();
    int dh = config.headDim();
    KvCache cache = pass.cache();
    // Query head h reads key/value head h / G: [B, Hkv, G, Dh] is q's own layout.
    q = pass.rope().applyInPlace(q.reshape(b, hKv, config.groupSize(), dh));
    k = pass.rope().applyInPlace(k.reshape(b, hKv, 1, dh));
    cache.write(layer, k, v.reshape(b, hKv, 1, dh));
    NDArray attended = // [B, Hkv, G, Dh]
        attention(
            q,
            cache.keysByColumn(layer),
            cache.values(layer),
            pass.oneToken().sqrtHeadDim(),
            pass.mask(),
            true);
    return attended.reshape(b, (long) config.nHeads() * dh);
  }

  /**
   * The kernel: softmax(q k^T / scale + mask) v for q [..., T, Dh], keysT [..., Dh, Tall], values
   * [..., Tall, Dh] -> [..., T, Dh] (leading axes broadcast: a group of query heads reads one
   * key/value head), {@code scale} 0-d in q's type, {@code mask} (null: none) additive; the softmax
   * in float32, its probabilities in q's type for the product. {@code inPlace}: no gradient is
   * kept, so the scale and the mask are written over the scores (each fresh copy of a prompt's
   * scores costs page faults: 26% of evaluate's CPU time was the kernel's before this).
   */
  public static NDArray attention(
      NDArray q, NDArray keysT, NDArray values, NDArray scale, NDArray mask, boolean inPlace) {
    NDArray scores = q.matMul(keysT);
    scores = inPlace ? scores.divi(scale) : scores.div(scale);
    NDArray scores32 = Precision.atLeastFloat32(scores);
    if (mask != null) {
      scores32 = inPlace ? scores32.addi(mask) : scores32.add(mask);
    }
    return Precision.cast(scores32.softmax(-1), q.getDataType()).matMul(values);
  }

  /**
   * {@link #attention} for q [B, Hkv, G, T, Dh], keysT [B, Hkv, 1, Dh, Tall], values [B, Hkv, 1,
   * Tall, Dh] -> [B, Hkv, G, T, Dh], the queries at positions from {@code start}, the mask causal
   * when null.
   */
  NDArray attend(
      NDArray q, NDArray keysT, NDArray values, NDArray mask, int start, boolean inPlace) {
    int t = (int) q.getShape().get(3);
    int tAll = (int) keysT.getShape().get(4);
    // Causal unless every key is at or before the queries' positions (one new token at the end).
    if (mask == null && (t > 1 || start + t < tAll)) {
      DataType scores = Precision.atLeastFloat32(q.getDataType());
      mask = causalMask(q.getManager(), start, t, tAll, scores);
    }
    NDArray scale = Scalar.of(q, (float) Math.sqrt(config.headDim()));
    return attention(q, keysT, values, scale, mask, inPlace);
  }

  /**
   * {@link #attend} without a gradient to keep (inference, a prompt's prefill), in chunks of
   * sequences and query rows whose float32 scores stay within {@code chunkBytes} ({@link
   * #SCORE_CHUNK_BYTES}), so that a long prompt's scores never exist whole: at 7B, 32 heads and
   * 4,096 positions, one sequence's scores are 2 GiB a layer. Each row of the result is computed as
   * {@link #attend} computes it.
   */
  NDArray attendInChunks(
      NDArray q, NDArray keysT, NDArray values, NDArray mask, int start, long chunkBytes) {
    long b = q.getShape().get(0);
    int t = (int) q.getShape().get(3);
    int tAll = (int) keysT.getShape().get(4);
    long perQuery = (long) config.nHeads() * tAll * Float.BYTES; // one query row of one sequence
    int rows = (int) Math.max(1, Math.min(t, chunkBytes / perQuery));
    long sequences = rows < t ? 1 : Math.max(1, Math.min(b, chunkBytes / (perQuery * t)));
    if (rows == t && sequences == b) {
      return attend(q, keysT, values, mask, start, true);
    }
    NDList bySequences = new NDList();
    for (long b0 = 0; b0 < b; b0 += sequences) {
      long b1 = Math.min(b, b0 + sequences);
      NDIndex batch = new NDIndex().addSliceDim(b0, b1);
      NDArray keysChunk = keysT.get(batch);
      NDArray valuesChunk = values.get(batch);
      NDList byRows = new NDList();
      for (int r0 = 0; r0 < t; r0 += rows) {
        int r1 = Math.min(t, r0 + rows);
        NDArray qChunk = q.get(new NDIndex().addSliceDim(b0, b1).addAllDim(2).addSliceDim(r0, r1));
        NDArray maskChunk = mask == null ? null : maskRows(mask, b0, b1, r0, r1);
        byRows.add(attend(qChunk, keysChunk, valuesChunk, maskChunk, start + r0, true));
      }
      bySequences.add(byRows.size() == 1 ? byRows.head() : NDArrays.concat(byRows, 3));
    }
    return bySequences.size() == 1 ? bySequences.head() : NDArrays.concat(bySequences, 0);
  }

  /** Sequences [b0, b1) and query rows [r0, r1) of a mask [B, 1, 1, T, Tall] or [T, Tall]. */
  private static NDArray maskRows(NDArray mask, long b0, long b1, int r0, int r1) {
    return switch (mask.getShape().dimension()) {
      case 5 -> mask.get(new NDIndex().addSliceDim(b0, b1).addAllDim(2).addSliceDim(r0, r1));
      case 2 -> mask.get(new NDIndex().addSliceDim(r0, r1));
      default ->
          throw new IllegalArgumentException(
              "an attention mask is [B, 1, 1, T, Tall] or [T, Tall], got " + mask.getShape());
    };
  }

  /** The installed deltas, by projection. */
  Map<String, LinearDelta> deltas() {
    return deltas.all();
  }

  /** Installs (or, with null, removes) a delta on projection q, k, v or o. */
  public void setDelta(String projection, LinearDelta delta) {
    deltas.set(projection, delta);
  }

  /**
   * [T, Tall] in {@code type}: 0 where query i (at position start + i) may see key j, -inf after.
   */
  static NDArray causalMask(NDManager manager, int start, int t, int tAll, DataType type) {
    float[] mask = new float[t * tAll];
    for (int i = 0; i < t; i++) {
      Arrays.fill(mask, i * tAll + start + i + 1, (i + 1) * tAll, Float.NEGATIVE_INFINITY);
    }
    return manager.create(mask, new Shape(t, tAll)).toType(type, false);
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
    NDArray x = inputs.singletonOrThrow();
    LayerPass pass = LayerPass.of(ps, Rope.forSequence(x, config), training);
    return new NDList(forward(pass, x, null, 0));
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return inputShapes;
  }
}
