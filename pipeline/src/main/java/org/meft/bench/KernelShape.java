package org.meft.bench;

import com.google.gson.JsonObject;

/**
 * The sizes the host kernels are measured at: one layer's store of N rows of width d, a step's M
 * tokens probing P of E experts for their top K rows, S rows gathered, scattered and updated.
 */
public record KernelShape(
    int rows,
    int dim,
    int tokens,
    int probes,
    int experts,
    int topK,
    int selected,
    int warmup,
    int repetitions) {
  public KernelShape {
    if (rows < 1 || dim < 1 || tokens < 1 || topK < 1 || warmup < 0 || repetitions < 1) {
      throw new IllegalArgumentException(
          "rows, dim, tokens, topK, repetitions must be >= 1 and warmup >= 0");
    }
    if (experts < 1 || experts > rows || probes < 1 || probes > experts) {
      throw new IllegalArgumentException(
          "need 1 <= probes <= experts <= rows, got " + probes + ", " + experts + ", " + rows);
    }
    if (selected < 1 || selected > rows) {
      throw new IllegalArgumentException("selected must be in [1, " + rows + "], got " + selected);
    }
  }

  /** R = ceil(N / E), rows per expert. */
  public int rowsPerExpert() {
    return (rows + experts - 1) / experts;
  }

  /** FLOPs of one scoring pass: a multiply and an add per (token, probe, row, dimension). */
  public double scoringFlops() {
    return 2.0 * tokens * probes * rowsPerExpert() * dim;
  }

  /** Bytes of S rows of keys plus S rows of values. */
  public long selectedBytes() {
    return 2L * selected * dim * Float.BYTES;
  }

  public JsonObject toJson() {
    JsonObject json = new JsonObject();
    json.addProperty("rows", rows);
    json.addProperty("dim", dim);
    json.addProperty("tokens", tokens);
    json.addProperty("probes", probes);
    json.addProperty("experts", experts);
    json.addProperty("rows_per_expert", rowsPerExpert());
    json.addProperty("top_k", topK);
    json.addProperty("selected_rows", selected);
    json.addProperty("warmup", warmup);
    json.addProperty("repetitions", repetitions);
    return json;
  }
}
