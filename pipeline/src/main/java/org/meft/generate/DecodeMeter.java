package org.meft.generate;

/**
 * What a decoding run cost the engine: forward passes, tokens decoded, and the arrays the engine
 * created (one per tensor-returning engine call: products, elementwise ops, views, gathers; an
 * in-place write creates none), counted in a pass's manager before it closes. Counting walks the
 * manager's arrays, which cost 3% of a stories260K decode pass when done on every pass, so passes
 * 1, 2, 4, 8, ... of a run are counted and the per-pass figures are their means (a decode pass
 * makes the same arrays whatever its position). Not thread-safe: one per run.
 */
public final class DecodeMeter {
  private long passes;
  private long tokens;
  private long countedDecodePasses; // one new column per sequence: the per-token cost
  private long countedDecodeTokens;
  private long decodeArrays;

  /** Whether the next pass's arrays are to be counted ({@link #pass} with the count). */
  boolean countsNext() {
    return Long.bitCount(passes + 1) == 1;
  }

  /** A pass of {@code newColumns} for {@code sequences}; arraysCreated -1 when not counted. */
  void pass(int newColumns, int sequences, int arraysCreated) {
    passes++;
    tokens += sequences;
    if (newColumns == 1 && arraysCreated >= 0) {
      countedDecodePasses++;
      decodeArrays += arraysCreated;
      countedDecodeTokens += sequences;
    }
  }

  /** Forward passes (prefill and decode). */
  public long passes() {
    return passes;
  }

  /** Tokens sampled (one per sequence per pass). */
  public long tokens() {
    return tokens;
  }

  /**
   * Engine calls per decode pass (one new token per sequence), the prefill excluded: the same
   * whatever the batch size, so that a batch of B divides it by B per token.
   */
  public double callsPerDecodePass() {
    return countedDecodePasses == 0 ? 0 : (double) decodeArrays / countedDecodePasses;
  }

  /** Engine calls per decoded token, the prefill excluded. */
  public double callsPerDecodedToken() {
    return countedDecodeTokens == 0 ? 0 : (double) decodeArrays / countedDecodeTokens;
  }
}
