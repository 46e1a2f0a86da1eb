package org.meft.forgetting;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import org.meft.model.Llama;

/**
 * A model's next-token log-probabilities along given continuations, teacher-forced: each prompt
 * followed by its continuation is one row of a right-padded batch that goes through the model in
 * one causal forward (a column never attends to a later one, so the pads after a sequence change
 * nothing in it). Column {@code prompt.length - 1 + j} of a row predicts its continuation token
 * {@code j}; the log-softmax over the vocabulary is taken there, in float32.
 */
final class ContinuationLogProbs {
  private ContinuationLogProbs() {}

  /**
   * The log-probabilities [M, V] float32 in {@code manager}, M the continuations' total length: the
   * rows of prompt 0's continuation positions, then prompt 1's, and so on. Every prompt holds at
   * least one token (BOS).
   */
  static NDArray of(Llama llama, NDManager manager, long[][] prompts, long[][] continuations) {
    int vocab = llama.config().vocabSize();
    int sequences = prompts.length;
    int width = 0;
    int positions = 0;
    for (int i = 0; i < sequences; i++) {
      if (prompts[i].length == 0) {
        throw new IllegalArgumentException("prompt " + i + " holds no token");
      }
      width = Math.max(width, prompts[i].length + continuations[i].length);
      positions += continuations[i].length;
    }
    if (positions == 0) {
      return manager.zeros(new Shape(0, vocab), DataType.FLOAT32);
    }
    long[] tokens = new long[sequences * width]; // pads are token 0, after every real token
    long[] predicting = new long[positions]; // flat [sequence * width + column]
    int position = 0;
    for (int i = 0; i < sequences; i++) {
      int row = i * width;
      System.arraycopy(prompts[i], 0, tokens, row, prompts[i].length);
      System.arraycopy(
          continuations[i], 0, tokens, row + prompts[i].length, continuations[i].length);
      for (int j = 0; j < continuations[i].length; j++) {
        predicting[position++] = row + prompts[i].length - 1 + j;
      }
    }
    try (NDManager scope = manager.newSubManager()) {
      NDArray logits =
          llama.forward(
              new ParameterStore(scope, false),
              scope.create(tokens, new Shape(sequences, width)),
              null,
              false); // [B, T, V]
      NDArray picked =
          logits
              .reshape(sequences * (long) width, vocab)
              .get(new NDIndex("{}", scope.create(predicting)))
              .toType(DataType.FLOAT32, false);
      NDArray logProbs = picked.logSoftmax(-1);
      logProbs.attach(manager);
      return logProbs;
    }
  }
}
