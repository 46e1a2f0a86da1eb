package org.meft.jobs.evaluate;

import java.io.Serializable;

/**
 * One evaluation task: rows {@code [offset, offset + count)} of one shard, decoded by one run.
 *
 * @param runId the run, as in the sweep's metrics
 * @param dataset the run's dataset
 * @param model the run's base model
 * @param tokenizer its tokenizer.json, or null for the model folder's
 * @param runDir the run's folder (its latest checkpoint is loaded)
 * @param shard the shard of the prepared split
 * @param split the split's label, {@code train} or {@code test}
 * @param maxNewTokens the decoding budget per example
 * @param decoding how the examples are decoded
 * @param forgettingPrompts the story prompts of the executor's forgetting references (0: none)
 * @param measuresForgetting whether this task measures the run's forgetting (the run's first slice
 *     does, once per run)
 */
public record EvaluationSlice(
    String runId,
    String dataset,
    String model,
    String tokenizer,
    String runDir,
    String shard,
    String split,
    long offset,
    int count,
    int maxNewTokens,
    Decoding decoding,
    int forgettingPrompts,
    boolean measuresForgetting)
    implements Serializable {
  public EvaluationSlice {
    java.util.Objects.requireNonNull(decoding, "decoding");
    if (measuresForgetting && forgettingPrompts == 0) {
      throw new IllegalArgumentException("forgetting measured on 0 story prompts");
    }
    if (offset < 0 || count < 1 || maxNewTokens < 1) {
      throw new IllegalArgumentException(
          "offset >= 0, count >= 1 and maxNewTokens >= 1 expected, got "
              + offset
              + ", "
              + count
              + ", "
              + maxNewTokens);
    }
  }
}
