package org.meft.adapter.lora;

import java.util.Set;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.LayerSelection;

/**
 * LoRA: {@code W' = W + (alpha / r) B A} on chosen projections, A [r, in] ~ N(0, 1/r), B [out, r]
 * zero, so training starts at the pretrained model.
 *
 * @param rank r
 * @param alpha the scale numerator
 * @param dropout dropout on the LoRA branch's input, in [0, 1)
 * @param projections any of q, k, v, o, gate, up, down
 * @param layers the layers that get LoRA
 */
public record LoraConfig(
    int rank, float alpha, float dropout, Set<String> projections, LayerSelection layers)
    implements AdapterConfig {
  public static final Set<String> ALL_PROJECTIONS =
      Set.of("q", "k", "v", "o", "gate", "up", "down");

  public LoraConfig {
    if (rank < 1) {
      throw new IllegalArgumentException("lora rank must be >= 1, got " + rank);
    }
    if (!(alpha > 0)) {
      throw new IllegalArgumentException("lora alpha must be > 0, got " + alpha);
    }
    if (!(dropout >= 0 && dropout < 1)) {
      throw new IllegalArgumentException("lora dropout must be in [0, 1), got " + dropout);
    }
    if (projections.isEmpty() || !ALL_PROJECTIONS.containsAll(projections)) {
      throw new IllegalArgumentException(
          "lora projections must be a non-empty subset of "
              + ALL_PROJECTIONS
              + ", got "
              + projections);
    }
    projections = Set.copyOf(projections);
  }

  @Override
  public String method() {
    return "lora";
  }
}
