package org.meft.reversible;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;
import org.meft.adapter.parallel.ParallelAdapter;
import org.meft.model.DecoderLayer;
import org.meft.model.LayerPass;
import org.meft.model.Scalar;

/**
 * One reversible layer (Liao et al., {@code RevBertLayer}): {@code y1 = lambda x1 + F(x2); y2 =
 * beta x2 + G(y1)}, output [y2, y1] for MEFT1 and MEFT2, [y1, y2] for MEFT3 (see {@link
 * Architecture} for F and G). Its backward rebuilds the input from the output ({@code x2 = (y2 -
 * G(y1)) / beta; x1 = (y1 - F(x2)) / lambda}) while recomputing G and F with gradient.
 */
final class ReversibleLayer {
  private final Architecture architecture;
  private final DecoderLayer layer;
  private final ParallelAdapter blockAdapter; // MEFT1's G, MEFT2's F; null for MEFT3
  private final float lambda;
  private final float beta;

  ReversibleLayer(
      Architecture architecture,
      DecoderLayer layer,
      ParallelAdapter blockAdapter,
      float lambda,
      float beta) {
    this.architecture = architecture;
    this.layer = layer;
    this.blockAdapter = blockAdapter;
    this.lambda = lambda;
    this.beta = beta;
  }

  /**
   * The forward: [x1, x2] -> the layer's output halves, each [B, T, D] (in the one-token pass [B,
   * D]).
   */
  Halves forward(LayerPass pass, Halves x) {
    NDArray y1 = x.first().mul(Scalar.of(x.first(), lambda)).add(f(pass, x.second()));
    NDArray y2 = x.second().mul(Scalar.of(x.second(), beta)).add(g(pass, y1));
    return architecture.swapsHalves() ? new Halves(y2, y1) : new Halves(y1, y2);
  }

  /**
   * The backward from this layer's output {@code out} and its gradient {@code dOut}: rebuilds the
   * input and returns it with its gradient; F and G run again in {@code pass} (a replay) and their
   * parameters get their gradients through {@code collector} ({@code afterBackward} runs after each
   * of its two backward calls, e.g. to send meft rows' gradients to the host). The layer's
   * temporaries are freed; the four arrays returned belong to the caller.
   */
  Step backward(
      GradientCollector collector,
      LayerPass pass,
      Halves out,
      Halves dOut,
      Runnable afterBackward) {
    boolean swap = architecture.swapsHalves();
    NDArray y1 = swap ? out.second() : out.first();
    NDArray y2 = swap ? out.first() : out.second();
    NDArray dy1 = swap ? dOut.second() : dOut.first();
    NDArray dy2 = swap ? dOut.first() : dOut.second();
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      // G(y1) with gradient; its vector-Jacobian product with dy2.
      long start = System.nanoTime();
      NDArray y1Leaf = y1.stopGradient();
      y1Leaf.setRequiresGradient(true);
      NDArray gOut = g(pass, y1Leaf);
      NDArray x2 = y2.sub(gOut.stopGradient()).div(Scalar.of(y2, beta));
      long recompute = System.nanoTime() - start;
      collector.backward(gOut.mul(dy2).sum());
      afterBackward.run();
      NDArray dy1Total = dy1.add(y1Leaf.getGradient());
      // F(x2) with gradient; its vector-Jacobian product with dL/dy1.
      start = System.nanoTime();
      NDArray x2Leaf = x2.stopGradient();
      x2Leaf.setRequiresGradient(true);
      NDArray fOut = f(pass, x2Leaf);
      NDArray x1 = y1.stopGradient().sub(fOut.stopGradient()).div(Scalar.of(y1, lambda));
      recompute += System.nanoTime() - start;
      collector.backward(fOut.mul(dy1Total).sum());
      afterBackward.run();
      NDArray dx1 = dy1Total.mul(Scalar.of(dy1Total, lambda));
      NDArray dx2 = dy2.mul(Scalar.of(dy2, beta)).add(x2Leaf.getGradient());
      for (NDArray kept : new NDArray[] {x1, x2, dx1, dx2}) {
        NDScope.unregister(kept);
      }
      return new Step(new Halves(x1, x2), new Halves(dx1, dx2), recompute);
    }
  }

  /**
   * The input rebuilt from the output {@code out} without gradient, as {@link #backward} rebuilds
   * it (a training forward of F and G); the two arrays returned belong to the caller.
   */
  Halves inverse(LayerPass pass, Halves out) {
    boolean swap = architecture.swapsHalves();
    NDArray y1 = swap ? out.second() : out.first();
    NDArray y2 = swap ? out.first() : out.second();
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      NDArray x2 = y2.sub(g(pass, y1)).div(Scalar.of(y2, beta));
      NDArray x1 = y1.sub(f(pass, x2)).div(Scalar.of(y1, lambda));
      NDScope.unregister(x1);
      NDScope.unregister(x2);
      return new Halves(x1, x2);
    }
  }

  /**
   * A backward step's result: the rebuilt input and its gradient, and the nanoseconds spent
   * recomputing F and G and rebuilding the input (the backward calls excluded).
   */
  record Step(Halves input, Halves gradient, long recomputeNanos) {}

  /** F of the architecture's table (see {@link Architecture}). */
  private NDArray f(LayerPass pass, NDArray x2) {
    return switch (architecture) {
      case MEFT1 -> layer.forward(pass, x2);
      case MEFT2 -> blockAdapter.forward(pass, x2);
      case MEFT3 -> layer.attentionBlock(pass, x2);
    };
  }

  /** G of the architecture's table. */
  private NDArray g(LayerPass pass, NDArray y1) {
    return switch (architecture) {
      case MEFT1 -> blockAdapter.forward(pass, y1);
      case MEFT2 -> layer.forward(pass, y1);
      case MEFT3 -> layer.mlpBlock(pass, y1);
    };
  }
}
