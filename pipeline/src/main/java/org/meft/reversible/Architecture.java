package org.meft.reversible;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The three reversible architectures of Liao et al. (NeurIPS 2023), each layer computing {@code y1
 * = lambda x1 + F(x2); y2 = beta x2 + G(y1)}, with the defaults of the authors' {@code
 * scripts/bert_glue.sh}.
 */
public enum Architecture {
  /**
   * F = the pre-trained layer with its adapter, G = a block adapter; halves swapped at the output.
   */
  MEFT1(0.1f, 1f, true),
  /** F = a block adapter, G = the pre-trained layer with its adapter; halves swapped. */
  MEFT2(1f, 0.1f, true),
  /** F = the attention block, G = the MLP block, each with its adapter; halves kept in place. */
  MEFT3(0.1f, 0.1f, false);

  private final float defaultLambda;
  private final float defaultBeta;
  private final boolean swapsHalves;

  Architecture(float defaultLambda, float defaultBeta, boolean swapsHalves) {
    this.defaultLambda = defaultLambda;
    this.defaultBeta = defaultBeta;
    this.swapsHalves = swapsHalves;
  }

  public float defaultLambda() {
    return defaultLambda;
  }

  public float defaultBeta() {
    return defaultBeta;
  }

  /** True when the layer outputs [y2, y1] rather than [y1, y2]. */
  public boolean swapsHalves() {
    return swapsHalves;
  }

  /** True when F or G is a block adapter of its own (MEFT1's G, MEFT2's F). */
  public boolean hasBlockAdapter() {
    return this != MEFT3;
  }

  /** The name on the command line: meft1, meft2, meft3. */
  public String flagName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The architecture called {@code name} on the command line. */
  public static Architecture named(String name) {
    for (Architecture a : values()) {
      if (a.flagName().equals(name)) {
        return a;
      }
    }
    throw new IllegalArgumentException(
        ReversibleConfig.REVERSIBLE.name()
            + ": expected none, "
            + Arrays.stream(values()).map(Architecture::flagName).collect(Collectors.joining(", "))
            + "; got '"
            + name
            + "'");
  }
}
