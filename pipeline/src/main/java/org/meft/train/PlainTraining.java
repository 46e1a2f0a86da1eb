package org.meft.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.training.GradientCollector;
import org.meft.model.LayerPass;
import org.meft.model.Llama;
import org.meft.model.Scalar;

/** One forward keeping every activation, then one backward over the whole model. */
record PlainTraining(Llama model) implements TrainingStrategy {

  @Override
  public float forwardBackward(LayerPass pass, Trainer.Batch batch, int accumulation) {
    try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
      NDArray logits = model.forward(pass, batch.inputs());
      NDArray loss = Trainer.maskedCrossEntropy(logits, batch.targets(), batch.mask());
      collector.backward(loss.div(Scalar.of(loss, accumulation)));
      return loss.getFloat();
    }
  }
}
