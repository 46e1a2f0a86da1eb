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
      Setting.integer(
          "adapter-size",
          4096,
          Range.closed(1, 1 << 24),
          "N, adapter neurons per layer (N x model width within one tensor's 2^31 elements)");

  /** The FFN adapters: the initial keys' standard deviation (values start at zero). */
  public static final Setting KEY_INIT =
      Setting.number("key-init", 0.02f, new Range(0, false, 100, true), "std of the initial keys");
}
