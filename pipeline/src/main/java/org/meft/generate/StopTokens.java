package org.meft.generate;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import java.util.Set;
import java.util.TreeSet;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;

/**
 * The tokens that end a generated sequence: the model's EOS ids, BOS (a new document), and every
 * token whose output-head row the head cannot tell from an EOS row: within {@link #ALIAS_TOLERANCE}
 * of it, relative to its length (L2).
 *
 * <p>A base trained without EOS, such as llama2.c's TinyStories models (whose data has BOS only),
 * leaves EOS and every other token it never saw with nearly the same row: tied to the frozen
 * embedding, stories260K's EOS row lies within 3.6e-4 of 168 unused byte tokens' rows (the next row
 * is 9.4e-3 away). Their logits then differ by less than 0.01 whatever the hidden state, so an
 * adapter that learns to stop raises all of them together, and greedy decoding emits one of them
 * where it means EOS (measured: answers recalled, then a stray '$', '+' or '!'). Counting them as
 * EOS is the only reading of that choice; a base with a trained EOS has no such rows.
 */
public final class StopTokens {
  /** Rows within this relative distance of an EOS row stop generation as EOS does. */
  public static final double ALIAS_TOLERANCE = 1e-3;

  private static final long CHUNK_ROWS = 4096;

  private StopTokens() {}

  /** The stop tokens of {@code llama}, with the head as it is now. */
  public static Set<Long> of(Llama llama) {
    LlamaConfig config = llama.config();
    Set<Long> stop = new TreeSet<>();
    stop.add((long) config.bosId());
    NDArray head = llama.headWeight().getArray(); // [V, D]
    long vocab = head.getShape().get(0);
    try (NDManager scratch = head.getManager().newSubManager()) {
      for (int eos : config.eosIds()) {
        stop.add((long) eos);
        NDArray eosRow = head.get(scratch, eos).toType(DataType.FLOAT32, true);
        double limit = ALIAS_TOLERANCE * eosRow.norm().getFloat();
        // In float32 and in chunks of rows: a 7B head is 32,000 x 4,096 in half precision.
        for (long start = 0; start < vocab; start += CHUNK_ROWS) {
          long end = Math.min(start + CHUNK_ROWS, vocab);
          try (NDManager chunk = scratch.newSubManager()) {
            NDArray rows = head.get(new NDIndex().addSliceDim(start, end));
            rows.attach(chunk);
            NDArray distance = rows.toType(DataType.FLOAT32, false).sub(eosRow).norm(new int[] {1});
            boolean[] alias = distance.lte(limit).toBooleanArray();
            for (int i = 0; i < alias.length; i++) {
              if (alias[i]) {
                stop.add(start + i);
              }
            }
          }
        }
      }
    }
    return stop;
  }
}
