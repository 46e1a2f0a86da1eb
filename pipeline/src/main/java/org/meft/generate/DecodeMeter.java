package org.meft.generate;

/**
 * What a decoding run cost the engine: forward passes, tokens decoded, and the arrays the engine
 * created (one per tensor-returning engine call: products, elementwise ops, views, gathers; an
 * in-place write creates none), counted in each pass's manager before it closes. Not thread-safe:
 * one per run.
 */
public final class DecodeMeter {
  private long passes;
  private long tokens;
  private long arrays;
  private long decodePasses; // one new column per sequence: the per-token cost
  private long decodeArrays;
  private long decodeTokens;

  void pass(int newColumns, int sequences, int arraysCreated) {
    passes++;
    arrays += arraysCreated;
    tokens += sequences;
    if (newColumns == 1) {
      decodePasses++;
      decodeArrays += arraysCreated;
      decodeTokens += sequences;
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

  /** Engine arrays created over the run. */
  public long arrays() {
    return arrays;
  }

  /**
   * Engine calls per decode pass (one new token per sequence), the prefill excluded: the same
   * whatever the batch size, so that a batch of B divides it by B per token.
   */
  public double callsPerDecodePass() {
    return decodePasses == 0 ? 0 : (double) decodeArrays / decodePasses;
  }

  /** Engine calls per decoded token, the prefill excluded. */
  public double callsPerDecodedToken() {
    return decodeTokens == 0 ? 0 : (double) decodeArrays / decodeTokens;
  }
}
