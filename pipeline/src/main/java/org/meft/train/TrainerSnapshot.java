package org.meft.train;

import ai.djl.ndarray.NDArray;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a checkpoint takes from the trainer between two steps, and what a resumed trainer starts
 * from: its counters, and the device AdamW moments named {@code PARAMETER.exp_avg} and {@code
 * PARAMETER.exp_avg_sq} after {@link org.meft.adapter.InstalledAdapters#namedDeviceParameters()}.
 * The arrays of a snapshot handed to a {@link Trainer.StepListener} belong to the optimizer and are
 * valid only during the call.
 */
public record TrainerSnapshot(TrainerState state, Map<String, NDArray> optimizer) {
  public TrainerSnapshot {
    optimizer = Collections.unmodifiableMap(new LinkedHashMap<>(optimizer));
  }
}
