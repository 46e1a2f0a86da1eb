package org.meft.adapter.lora;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.AdapterMethod;
import org.meft.adapter.AdapterMethods;
import org.meft.adapter.LayerSelection;
import org.meft.settings.Range;
import org.meft.settings.Setting;
import org.meft.settings.SettingValues;

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

  /** Every projection LoRA can go on, in the model's order. */
  public static final List<String> ALL_PROJECTIONS =
      List.of("q", "k", "v", "o", "gate", "up", "down");

  public static final Setting RANK =
      Setting.integer(
          "lora-rank",
          16,
          Range.closed(1, 1 << 16),
          "r, the rank of B A (r x model width within one tensor's 2^31 elements)");
  public static final Setting ALPHA =
      Setting.number("lora-alpha", 32, new Range(0, false, 1e6, true), "the scale is alpha / r");
  public static final Setting DROPOUT =
      Setting.number("lora-dropout", 0, Range.closedOpen(0, 1), "dropout on the branch's input");
  public static final Setting TARGETS =
      Setting.text(
          "lora-targets", "q,k,v,o", "projections among " + String.join(",", ALL_PROJECTIONS));

  static final List<Setting> SETTINGS = List.of(RANK, ALPHA, DROPOUT, TARGETS);

  public LoraConfig {
    RANK.check(rank);
    ALPHA.check(alpha);
    DROPOUT.check(dropout);
    if (projections.isEmpty() || !ALL_PROJECTIONS.containsAll(projections)) {
      throw new IllegalArgumentException(
          TARGETS.name()
              + " must be a non-empty subset of "
              + String.join(",", ALL_PROJECTIONS)
              + ", got "
              + String.join(",", projections));
    }
    projections = Set.copyOf(projections);
  }

  static LoraConfig read(SettingValues values, LayerSelection layers) {
    return new LoraConfig(
        values.integer(RANK),
        values.number(ALPHA),
        values.number(DROPOUT),
        new LinkedHashSet<>(Arrays.asList(values.text(TARGETS).split(",", -1))),
        layers);
  }

  @Override
  public AdapterMethod method() {
    return AdapterMethods.named(LoraMethod.NAME);
  }

  @Override
  public Map<String, String> settings() {
    Map<String, String> s = new LinkedHashMap<>();
    s.put(RANK.name(), Integer.toString(rank));
    s.put(ALPHA.name(), Float.toString(alpha));
    s.put(DROPOUT.name(), Float.toString(dropout));
    s.put(
        TARGETS.name(),
        String.join(",", ALL_PROJECTIONS.stream().filter(projections::contains).toList()));
    return s;
  }
}
