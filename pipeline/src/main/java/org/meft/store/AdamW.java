package org.meft.store;

/**
 * AdamW hyperparameters as torch.optim.AdamW takes them, validated against its ranges: lr >= 0, 0
 * <= beta1, beta2 < 1, eps >= 0, weightDecay >= 0 (decoupled, multiplied by lr).
 */
record AdamW(float lr, float beta1, float beta2, float eps, float weightDecay) {
  AdamW {
    check("lr", lr, lr >= 0 && lr < Float.POSITIVE_INFINITY, "[0, inf)");
    check("beta1", beta1, beta1 >= 0 && beta1 < 1, "[0, 1)");
    check("beta2", beta2, beta2 >= 0 && beta2 < 1, "[0, 1)");
    check("eps", eps, eps >= 0 && eps < Float.POSITIVE_INFINITY, "[0, inf)");
    check(
        "weightDecay",
        weightDecay,
        weightDecay >= 0 && weightDecay < Float.POSITIVE_INFINITY,
        "[0, inf)");
  }

  private static void check(String name, float value, boolean ok, String range) {
    if (!ok) {
      throw new IllegalArgumentException("AdamW " + name + " = " + value + ", allowed " + range);
    }
  }
}
