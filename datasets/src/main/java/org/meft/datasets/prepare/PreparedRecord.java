package org.meft.datasets.prepare;

import java.util.List;
import java.util.Optional;
import org.meft.train.TrainingExample;

/**
 * One row of a prepared shard, as the training and evaluation tasks read it back.
 *
 * @param id the record's id, unique within its dataset
 * @param references the acceptable answers (or gold API lines), for the metric
 * @param inputIds {@code [BOS] prompt target [EOS]}, possibly with prompt tokens cut from the front
 * @param lossMask 1 at target and EOS positions, 0 at BOS and prompt positions
 */
public record PreparedRecord(String id, List<String> references, int[] inputIds, byte[] lossMask) {
  public PreparedRecord {
    if (id == null || id.isEmpty()) {
      throw new IllegalArgumentException("id must be non-empty");
    }
    if (inputIds.length != lossMask.length || inputIds.length == 0) {
      throw new IllegalArgumentException(
          "record "
              + id
              + ": input_ids ("
              + inputIds.length
              + ") and loss_mask ("
              + lossMask.length
              + ") must have the same non-zero length");
    }
    references = List.copyOf(references);
  }

  /** How many leading tokens are not trained: BOS and the prompt. */
  public int promptLength() {
    int length = 0;
    while (length < lossMask.length && lossMask[length] == 0) {
      length++;
    }
    return length;
  }

  /** BOS and the prompt as token ids: what a model decodes from at evaluation. */
  public long[] promptIds() {
    return promptIds(Integer.MAX_VALUE);
  }

  /**
   * BOS and the prompt in at most {@code maxLength} tokens (at least 1): prompt tokens are dropped
   * from the front, as in training, so that the question and the answer cue stay.
   */
  public long[] promptIds(int maxLength) {
    int prompt = promptLength();
    int length = Math.max(1, Math.min(prompt, maxLength));
    int dropped = prompt - length;
    long[] ids = new long[length];
    ids[0] = inputIds[0];
    for (int i = 1; i < length; i++) {
      ids[i] = inputIds[i + dropped];
    }
    return ids;
  }

  /**
   * The training sequence within {@code maxLength} tokens: prompt tokens are dropped from the front
   * (BOS stays), never target tokens, as {@link TokenSequence} does; empty when BOS, the target and
   * EOS alone are longer.
   */
  public Optional<TrainingExample> toTrainingExample(int maxLength) {
    int prompt = promptLength();
    int fixed = inputIds.length - prompt + 1; // BOS, target, EOS
    if (fixed > maxLength) {
      return Optional.empty();
    }
    int dropped = Math.max(0, inputIds.length - maxLength);
    int length = inputIds.length - dropped;
    long[] tokens = new long[length];
    boolean[] mask = new boolean[length];
    tokens[0] = inputIds[0];
    for (int i = 1; i < length; i++) {
      tokens[i] = inputIds[i + dropped];
      mask[i] = lossMask[i + dropped] != 0;
    }
    return Optional.of(new TrainingExample(tokens, mask));
  }
}
