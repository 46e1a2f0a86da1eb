package org.meft.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import java.util.OptionalLong;

/**
 * What every decoder layer of one forward pass shares: the parameter store, the rotary tables of
 * the pass's positions, the first position, the attention mask (null: causal from {@code start}),
 * the KV cache (null: nothing kept), whether autograd keeps a graph, which forward of the layers
 * this is, and the micro-batch's dropout seed.
 *
 * <p>The one-token inference pass ({@link TokenDecoder}) is this pass over hidden states [B, D]
 * with its {@link OneToken} constants: the same blocks, their kernels in place.
 *
 * @param kind activation recomputation and the reversible layers run a layer twice per micro-batch
 *     (see {@link Kind}); the two forwards must compute the same function
 * @param dropoutSeed when present, dropout draws its masks from this seed mixed with each branch's
 *     index ({@link #seedBranch}); else from the engine's generator as it stands
 * @param oneToken null for a pass over [B, T, D]
 */
public record LayerPass(
    ParameterStore ps,
    Rope rope,
    int start,
    NDArray mask,
    KvCache cache,
    boolean training,
    Kind kind,
    OptionalLong dropoutSeed,
    OneToken oneToken) {

  /** The kinds of forward a layer runs. */
  public enum Kind {
    /** The only forward: autograd keeps its graph for one backward over the whole model. */
    ONCE,
    /** A recomputed layer's first forward, without gradient: records its choices, keeps nothing. */
    RECORD,
    /** The recomputation, with gradient: replays what {@link #RECORD} chose. */
    REPLAY
  }

  /** A pass from position 0, causal, without a cache: a training forward or a plain inference. */
  public static LayerPass of(ParameterStore ps, Rope rope, boolean training) {
    return new LayerPass(ps, rope, 0, null, null, training, Kind.ONCE, OptionalLong.empty(), null);
  }

  /**
   * The one-token inference pass: {@code rope} the rows [B, 1, 1, Dh] of each sequence's position,
   * {@code mask} [B, 1, 1, capacity] float32 over the cache's columns.
   */
  public static LayerPass oneToken(
      ParameterStore ps, Rope rope, NDArray mask, KvCache cache, OneToken constants) {
    return new LayerPass(
        ps, rope, cache.length(), mask, cache, false, Kind.ONCE, OptionalLong.empty(), constants);
  }

  /** This pass at positions from {@code start}, with {@code mask} and {@code cache}. */
  public LayerPass at(int start, NDArray mask, KvCache cache) {
    return new LayerPass(ps, rope, start, mask, cache, training, kind, dropoutSeed, oneToken);
  }

  /** This pass as the forward of kind {@code newKind}. */
  public LayerPass as(Kind newKind) {
    return new LayerPass(ps, rope, start, mask, cache, training, newKind, dropoutSeed, oneToken);
  }

  /** This pass with its dropout drawn from {@code seed} (see {@link #seedBranch}). */
  public LayerPass seeded(long seed) {
    return new LayerPass(
        ps, rope, start, mask, cache, training, kind, OptionalLong.of(seed), oneToken);
  }

  /** True for the one-token inference pass over [B, D]: its kernels may write in place. */
  public boolean isOneToken() {
    return oneToken != null;
  }

  /**
   * {@code parameter}'s value on {@code like}'s device; in the one-token pass the parameter's own
   * array, read where it lives without asking for like's device (a fresh array's first {@code
   * getDevice} is a call into the engine).
   */
  public NDArray value(Parameter parameter, NDArray like) {
    return isOneToken() ? parameter.getArray() : ps.getValue(parameter, like.getDevice(), training);
  }

  /**
   * {@code y + a}: in place when this is the one-token pass (which owns y) and the types agree, so
   * that no array is made.
   */
  public NDArray accumulate(NDArray y, NDArray a) {
    return isOneToken() && a.getDataType() == y.getDataType() ? y.addi(a) : y.add(a);
  }

  /**
   * Seeds the engine's generator for the dropout of branch {@code branch} (a fixed index per
   * dropout site), so that a layer's first forward and its recomputation draw the same mask; does
   * nothing without a {@link #dropoutSeed}.
   */
  public void seedBranch(int branch) {
    if (dropoutSeed.isPresent()) {
      Engine.getInstance().setRandomSeed(mix(dropoutSeed.getAsLong(), branch));
    }
  }

  /** A well-spread int from a seed and an index (SplitMix64's finaliser). */
  static int mix(long seed, int index) {
    long z = seed + 0x9E3779B97F4A7C15L * (index + 1L);
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return (int) (z ^ (z >>> 31));
  }
}
