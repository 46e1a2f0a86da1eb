package org.meft.datasets.prepare;

import java.util.List;
import java.util.Optional;
import org.meft.tokenizer.SequenceLayout;
import org.meft.train.TrainingExample;

/**
 * One row of a prepared shard, as the training and evaluation tasks read it back.
 *
 * @param id the record's id, unique within its dataset
 * @param references the acceptable answers (or gold API lines), for the metric
 * @param inputIds {@code [BOS] prompt target [EOS]} ({@link SequenceLayout}), possibly with prompt
 *     tokens cut from the front
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

  /**
   * The record's prompt and target ids, read back by {@code layout}, the model's: its sequence must
   * begin with the layout's BOS and end with its EOS (when it has them).
   *
   * @throws IllegalArgumentException naming the record when it was prepared with other special
   *     tokens
   */
  public SequenceLayout.Parts parts(SequenceLayout layout) {
    long[] ids = new long[inputIds.length];
    boolean[] mask = new boolean[inputIds.length];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = inputIds[i];
      mask[i] = lossMask[i] != 0;
    }
    try {
      return layout.unpack(ids, mask);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "record "
              + id
              + ": "
              + e.getMessage()
              + ": it was prepared with other special tokens than the model's; prepare the data"
              + " again with the model's tokenizer",
          e);
    }
  }

  /**
   * The evaluation prompt, {@code [BOS] prompt} in at most {@code maxLength} tokens, by {@link
   * SequenceLayout#prompt}: prompt tokens are dropped from the front, as in training, so that the
   * question and the answer cue stay.
   */
  public long[] promptIds(SequenceLayout layout, int maxLength) {
    return layout.prompt(parts(layout).prompt(), maxLength);
  }

  /**
   * The training sequence within {@code maxLength} tokens, {@link SequenceLayout#pack packed} again
   * from the record's prompt and target: prompt tokens are dropped from the front (BOS stays),
   * never target tokens; empty when BOS, the target and EOS alone are longer.
   */
  public Optional<TrainingExample> toTrainingExample(SequenceLayout layout, int maxLength) {
    SequenceLayout.Parts parts = parts(layout);
    SequenceLayout.Packed packed = layout.pack(parts.prompt(), parts.target(), maxLength);
    if (!packed.fits()) {
      return Optional.empty();
    }
    try {
      return Optional.of(TrainingExample.of(packed, maxLength));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("record " + id + ": " + e.getMessage(), e);
    }
  }
}
