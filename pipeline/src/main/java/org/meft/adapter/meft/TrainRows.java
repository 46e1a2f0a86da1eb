package org.meft.adapter.meft;

import java.util.Arrays;
import java.util.stream.Collectors;
import org.meft.settings.Setting;

/** Which of its top-K rows a token trains with, the {@code train-rows} setting. */
public enum TrainRows {
  /**
   * All K: a micro-batch's tokens go to the device in consecutive groups whose union of rows fits
   * max-rows ({@link TokenGroups}), as generation routes them. Each group's K_S, V_S stay on the
   * device until backward, so a layer's pass holds up to (groups x max-rows) rows.
   */
  ALL,
  /**
   * One group: the union of the micro-batch's rows capped at max-rows, the rows with the lowest
   * best score dropped (and with them the choices of the tokens that chose them). A layer's pass
   * holds at most max-rows rows.
   */
  CAPPED;

  /** The name in settings: all, capped. */
  public String flagName() {
    return Setting.spelled(this);
  }

  /** The value called {@code name} in settings. */
  public static TrainRows named(String name) {
    for (TrainRows rows : values()) {
      if (rows.flagName().equals(name)) {
        return rows;
      }
    }
    throw new IllegalArgumentException(
        MeftConfig.TRAIN_ROWS.name()
            + ": expected "
            + Arrays.stream(values()).map(TrainRows::flagName).collect(Collectors.joining(" or "))
            + ", got '"
            + name
            + "'");
  }
}
