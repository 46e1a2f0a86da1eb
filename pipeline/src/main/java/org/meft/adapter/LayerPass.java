package org.meft.adapter;

import ai.djl.engine.Engine;

/**
 * Which forward of a decoder layer the adapters are in, and the seed of the micro-batch's dropout.
 * Set by the trainer, shared by every adapter of a model, like {@link ActiveTokens}.
 *
 * <p>With activation recomputation each layer runs twice in a training step: first without gradient
 * ({@link Kind#RECORD}: nothing is kept for backward), then again with gradient just before its
 * backward ({@link Kind#REPLAY}). The two must compute the same function: data-dependent choices
 * (meft's routed rows) are recorded by the first and replayed by the second, and dropout draws from
 * a seed per branch, so that a mask does not depend on how many draws came before.
 */
public final class LayerPass {
  /** The kinds of forward a layer runs. */
  public enum Kind {
    /** The only forward: autograd keeps its graph for one backward over the whole model. */
    ONCE,
    /** Recomputation's first forward, without gradient: records its choices, keeps nothing. */
    RECORD,
    /** The recomputation, with gradient: replays what {@link #RECORD} chose. */
    REPLAY
  }

  private Kind kind = Kind.ONCE;
  private boolean seeded;
  private long dropoutSeed;

  public Kind kind() {
    return kind;
  }

  public void set(Kind newKind) {
    kind = newKind;
  }

  /**
   * From now on dropout draws its masks from {@code seed} mixed with each branch's index (see
   * {@link #seedBranch}).
   */
  public void seedDropout(long seed) {
    seeded = true;
    dropoutSeed = seed;
  }

  /** Back to a single forward with dropout drawn from the engine's generator as it stands. */
  public void clear() {
    kind = Kind.ONCE;
    seeded = false;
  }

  /**
   * Seeds the engine's generator for the dropout of branch {@code branch} (a fixed index per
   * dropout site), so that the first forward and the recomputation draw the same mask; does nothing
   * unless {@link #seedDropout} was called.
   */
  public void seedBranch(int branch) {
    if (seeded) {
      Engine.getInstance().setRandomSeed(mix(dropoutSeed, branch));
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
