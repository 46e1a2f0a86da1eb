package org.meft.adapter;

import org.meft.settings.Range;
import org.meft.settings.Setting;

/** Settings that more than one adapter method takes, declared once. */
public final class AdapterSettings {
  private AdapterSettings() {}

  /** Every method: the decoder layers that get the adapter. */
  public static final Setting LAYERS =
      Setting.text("layers", LayerSelection.ALL.spec(), "all, first:N, last:N or a list 0,3,5");

  /** The FFN adapters (meft, parallel): N, neurons per layer. */
  public static final Setting ADAPTER_SIZE =
      Setting.integer("adapter-size", 4096, Range.atLeast(1), "N, adapter neurons per layer");

  /** The FFN adapters: the initial keys' standard deviation (values start at zero). */
  public static final Setting KEY_INIT =
      Setting.number("key-init", 0.02f, Range.above(0), "std of the initial keys");
}
