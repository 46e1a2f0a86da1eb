package org.meft.datasets.prepare;

import java.util.List;

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
    long[] ids = new long[promptLength()];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = inputIds[i];
    }
    return ids;
  }
}
