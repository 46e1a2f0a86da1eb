package org.meft.train;

import org.meft.adapter.InstalledAdapters;
import org.meft.model.LayerPass;
import org.meft.model.Llama;
import org.meft.reversible.ReversibleStack;

/**
 * How one micro-batch's forward and backward run: every activation kept ({@link PlainTraining}),
 * only the layers' inputs kept and each layer recomputed in backward ({@link
 * ActivationRecomputation}), or the reversible layers' inputs rebuilt from their outputs ({@link
 * ReversibleTraining}). Each gives the gradients of one backward over the whole model. Chosen once,
 * for the run as installed ({@link #of}).
 */
interface TrainingStrategy {
  /**
   * Forward and backward of micro-batch {@code batch} in {@code pass} (a training pass from
   * position 0 over the batch's tokens, its dropout seeded), the loss's gradients scaled by 1 /
   * {@code accumulation} and added to the parameters' (a meft layer's row gradients sent to the
   * host store as it goes); returns the micro-batch's loss.
   */
  float forwardBackward(LayerPass pass, Trainer.Batch batch, int accumulation);

  /**
   * The strategy of a run of {@code model} with {@code adapters} installed: reversible when the
   * model's lowest layers are a {@link ReversibleStack}, else as {@code config} says.
   */
  static TrainingStrategy of(Llama model, InstalledAdapters adapters, TrainConfig config) {
    ReversibleStack stack = ReversibleStack.of(model);
    if (stack != null) {
      return new ReversibleTraining(model, adapters, stack);
    }
    return config.recomputeActivations()
        ? new ActivationRecomputation(model, adapters)
        : new PlainTraining(model);
  }
}
