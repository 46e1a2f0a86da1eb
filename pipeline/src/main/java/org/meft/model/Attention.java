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
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.Arrays;
import java.util.HashMap;
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
  private final Map<String, LinearDelta> deltas = new HashMap<>(); // by projection: q, k, v, o

  public Attention(LlamaConfig config) {
    this.config = config;
    wq = addParameter(FeedForward.weight("wq"));
    wk = addParameter(FeedForward.weight("wk"));
    wv = addParameter(FeedForward.weight("wv"));
    wo = addParameter(FeedForward.weight("wo"));
  }

  /**
   * x [B, T, D] at positions [start, start + T) -> [B, T, D]. With a cache, the new keys and values
   * are appended to it and the queries attend to every cached position as well.
   */
  public NDArray forward(
      ParameterStore ps,
      NDArray x,
      Rope rope,
      int start,
      KvCache cache,
      int layer,
      boolean training) {
    return forward(ps, x, rope, start, null, cache, layer, training);
  }

  /**
   * As above, with {@code mask} (null: causal from {@code start}) the additive float32 mask [B, 1,
   * 1, T, Tall] over the cached and new columns: 0 where a query may see a key, -inf where not (a
   * left-padded batch hides its pad columns, and each sequence's later columns).
   */
  public NDArray forward(
      ParameterStore ps,
      NDArray x,
      Rope rope,
      int start,
      NDArray mask,
      KvCache cache,
      int layer,
      boolean training) {
    long b = x.getShape().get(0);
    long t = x.getShape().get(1);
    int h = config.nHeads();
    int hKv = config.nKvHeads();
    int dh = config.headDim();
    // q [B, T, H, Dh], k and v [B, T, Hkv, Dh]: x W^T plus the projection's delta (LoRA), if any;
    // q and k are rotated after the delta.
    NDArray q = rope.apply(project(ps, x, "q", wq, training).reshape(b, t, h, dh));
    NDArray k = rope.apply(project(ps, x, "k", wk, training).reshape(b, t, hKv, dh));
    NDArray v = project(ps, x, "v", wv, training).reshape(b, t, hKv, dh);

    k = k.transpose(0, 2, 1, 3); // [B, Hkv, T, Dh]
    v = v.transpose(0, 2, 1, 3);
    if (cache != null) {
      NDArray[] kv = cache.append(layer, k, v);
      k = kv[0];
      v = kv[1];
    }

    // Group the query heads by the key/value head they read: [B, Hkv, G, T, Dh].
    NDArray qGrouped = q.transpose(0, 2, 1, 3).reshape(b, hKv, config.groupSize(), t, dh);
    NDArray keysT = k.expandDims(2).transpose(0, 1, 2, 4, 3); // [B, Hkv, 1, Dh, Tall]
    NDArray values = v.expandDims(2); // [B, Hkv, 1, Tall, Dh]
    DataType type = x.getDataType();
    NDArray attended = // [B, Hkv, G, T, Dh]
        qGrouped.hasGradient() || keysT.hasGradient() || values.hasGradient()
            ? attend(qGrouped, keysT, values, mask, start, type, false)
            : attendInChunks(qGrouped, keysT, values, mask, start, type, SCORE_CHUNK_BYTES);
    NDArray merged = attended.reshape(b, h, t, dh).transpose(0, 2, 1, 3).reshape(b, t, h * dh);
    return project(ps, merged, "o", wo, training);
  }

  /**
   * softmax(q k^T / sqrt(Dh) + mask) v for q [B, Hkv, G, T, Dh], keysT [B, Hkv, 1, Dh, Tall],
   * values [B, Hkv, 1, Tall, Dh] -> [B, Hkv, G, T, Dh]; the softmax in float32, its probabilities
   * in {@code type} for the product. {@code inPlace}: no gradient is kept, so the scale and the
   * mask are written over the scores (each fresh copy of a prompt's scores costs page faults: 26%
   * of evaluate's CPU time was the kernel's before this).
   */
  NDArray attend(
      NDArray q,
      NDArray keysT,
      NDArray values,
      NDArray mask,
      int start,
      DataType type,
      boolean inPlace) {
    NDArray scores = q.matMul(keysT); // [B, Hkv, G, T, Tall]
    NDArray scale = Scalar.of(q, (float) Math.sqrt(config.headDim()));
    scores = inPlace ? scores.divi(scale) : scores.div(scale);
    NDArray scores32 = Precision.atLeastFloat32(scores);
    int t = (int) q.getShape().get(3);
    int tAll = (int) keysT.getShape().get(4);
    // Causal unless every key is at or before the queries' positions (one new token at the end).
    if (mask == null && (t > 1 || start + t < tAll)) {
      mask = causalMask(q.getManager(), start, t, tAll, scores32);
    }
    if (mask != null) {
      scores32 = inPlace ? scores32.addi(mask) : scores32.add(mask);
    }
    NDArray probabilities = Precision.cast(scores32.softmax(-1), type);
    return probabilities.matMul(values);
  }

  /**
   * {@link #attend} without a gradient to keep (inference, a prompt's prefill), in chunks of
   * sequences and query rows whose float32 scores stay within {@code chunkBytes} ({@link
   * #SCORE_CHUNK_BYTES}), so that a long prompt's scores never exist whole: at 7B, 32 heads and
   * 4,096 positions, one sequence's scores are 2 GiB a layer. Each row of the result is computed as
   * {@link #attend} computes it.
   */
  NDArray attendInChunks(
      NDArray q,
      NDArray keysT,
      NDArray values,
      NDArray mask,
      int start,
      DataType type,
      long chunkBytes) {
    long b = q.getShape().get(0);
    int t = (int) q.getShape().get(3);
    int tAll = (int) keysT.getShape().get(4);
    long perQuery = (long) config.nHeads() * tAll * Float.BYTES; // one query row of one sequence
    int rows = (int) Math.max(1, Math.min(t, chunkBytes / perQuery));
    long sequences = rows < t ? 1 : Math.max(1, Math.min(b, chunkBytes / (perQuery * t)));
    if (rows == t && sequences == b) {
      return attend(q, keysT, values, mask, start, type, true);
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
        byRows.add(attend(qChunk, keysChunk, valuesChunk, maskChunk, start + r0, type, true));
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
    return Map.copyOf(deltas);
  }

  /** x W^T, plus the projection's delta when one is installed. */
  private NDArray project(
      ParameterStore ps, NDArray x, String projection, Parameter w, boolean training) {
    NDArray y = Linear.linear(x, value(ps, w, x, training)).head();
    LinearDelta delta = deltas.get(projection);
    return delta == null ? y : y.add(delta.forward(ps, x, training));
  }

  /** Installs (or, with null, removes) a delta on projection q, k, v or o. */
  public void setDelta(String projection, LinearDelta delta) {
    if (delta == null) {
      deltas.remove(projection);
    } else {
      deltas.put(projection, delta);
    }
  }

  /** [T, Tall]: 0 where query i (at position start + i) may see key j, -inf after it. */
  static NDArray causalMask(NDManager manager, int start, int t, int tAll, NDArray like) {
    float[] mask = new float[t * tAll];
    for (int i = 0; i < t; i++) {
      Arrays.fill(mask, i * tAll + start + i + 1, (i + 1) * tAll, Float.NEGATIVE_INFINITY);
    }
    return manager.create(mask, new Shape(t, tAll)).toType(like.getDataType(), false);
  }

  private static NDArray value(ParameterStore ps, Parameter p, NDArray x, boolean training) {
    return ps.getValue(p, x.getDevice(), training);
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
    NDArray x = inputs.singletonOrThrow();
    return new NDList(forward(ps, x, Rope.forSequence(x, config), 0, null, 0, training));
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return inputShapes;
  }
}
