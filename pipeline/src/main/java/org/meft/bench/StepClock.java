package org.meft.bench;

import java.io.OutputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.meft.adapter.AdapterMeters;

/**
 * The trainer's progress stream, set to a line per step, used as a clock: each line ends a step,
 * and the clock notes the time and the adapters' meters then, so that every step's time, bytes and
 * phase times are the differences between consecutive lines.
 */
final class StepClock extends OutputStream {
  /** The meters at the end of one step. */
  record Mark(long nanos, long hostToDevice, long deviceToHost, Map<String, Long> phaseNanos) {}

  private final AdapterMeters meters;
  private final List<Mark> marks = new ArrayList<>();

  StepClock(AdapterMeters meters) {
    this.meters = meters;
    mark();
  }

  private void mark() {
    marks.add(
        new Mark(
            System.nanoTime(),
            meters.hostToDeviceBytes(),
            meters.deviceToHostBytes(),
            new HashMap<>(meters.phaseNanos())));
  }

  @Override
  public void write(int b) {
    if (b == '\n') {
      mark();
    }
  }

  @Override
  public void write(byte[] bytes, int off, int len) {
    for (int i = off; i < off + len; i++) {
      write(bytes[i]);
    }
  }

  /** The start, then the end of every step so far. */
  List<Mark> marks() {
    return marks;
  }
}
