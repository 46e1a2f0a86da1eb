package org.meft.plan;

import org.meft.model.LlamaConfig;

/**
 * An estimate (not metered) of the device bytes the frozen base model keeps for backward, from what
 * eager autograd must keep for each op of a LLaMA decoder layer (B sequences of T tokens, D wide, H
 * query heads of Dh, key/value width Dkv, FFN width F), in the base type of {@code b} bytes unless
 * said:
 *
 * <pre>
 *   attention RMSNorm   input x [B,T,D], its output (q/k/v's input) [B,T,D], 1/rms [B,T] f32
 *   q, k, v after RoPE  [B,T,H Dh] + 2 [B,T,Dkv] (the inputs of the two attention products)
 *   softmax output      P [B,H,T,T] (for its own backward and P V's)
 *   attention output    [B,T,H Dh] (o's input)
 *   FFN RMSNorm         input h [B,T,D], its output (gate/up's input) [B,T,D], 1/rms [B,T] f32
 *   SwiGLU              gate, up, silu(gate), silu(gate) * up (down's input): 4 [B,T,F]
 * </pre>
 *
 * The head keeps the final norm's input and output [B,T,D] and the float32 logits and their
 * log-softmax [B,T,V]. Without recomputation every layer keeps all of this; with it, each layer
 * keeps only its input [B,T,D], and one layer's full set exists during that layer's backward.
 */
public final class BaseActivations {
  private BaseActivations() {}

  /** One decoder layer's tensors kept for backward. */
  public static long perLayer(LlamaConfig c, long b, long t, int bytes) {
    long tokens = b * t;
    long q = (long) c.nHeads() * c.headDim();
    long widths = 4L * c.dim() + 2 * q + 2L * c.kvDim() + 4L * c.hiddenDim();
    long softmax = b * c.nHeads() * t * t;
    return bytes * (tokens * widths + softmax) + 2 * tokens * Float.BYTES;
  }

  /** The final norm and the loss's float32 logits and log-softmax. */
  public static long head(LlamaConfig c, long b, long t, int bytes) {
    long tokens = b * t;
    return bytes * 2L * tokens * c.dim()
        + tokens * Float.BYTES
        + 2L * tokens * c.vocabSize() * Float.BYTES;
  }

  /** Everything the base model keeps for backward over one micro-batch. */
  public static long kept(LlamaConfig c, long b, long t, int bytes, boolean recompute) {
    long layers = c.nLayers();
    long body =
        recompute
            ? layers * bytes * b * t * c.dim() + perLayer(c, b, t, bytes)
            : layers * perLayer(c, b, t, bytes);
    return body + head(c, b, t, bytes);
  }

  /**
   * The largest short-lived base tensor: the gradient of the attention scores [B,H,T,T] during a
   * layer's backward, or of the float32 logits [B,T,V].
   */
  public static long largestTransient(LlamaConfig c, long b, long t, int bytes) {
    return Math.max(bytes * b * c.nHeads() * t * t, b * t * c.vocabSize() * Float.BYTES);
  }

  /**
   * With the lowest {@code reversible} layers reversible (Liao et al.): the top halves of the
   * reversible stack, 2 [B,T,D]; during the walk down, one reversible layer's full set plus its
   * rebuilt input and the gradient halves, 4 [B,T,D]; the layers above kept as usual; the head. An
   * upper bound: the upper layers' and the head's tensors are counted as alive during the walk.
   * Constant in the reversible depth.
   */
  public static long keptReversible(LlamaConfig c, long b, long t, int bytes, int reversible) {
    long half = bytes * b * t * c.dim();
    long walk = perLayer(c, b, t, bytes) + 4 * half;
    long upper = (long) (c.nLayers() - reversible) * perLayer(c, b, t, bytes);
    return 2 * half + walk + upper + head(c, b, t, bytes);
  }
}
