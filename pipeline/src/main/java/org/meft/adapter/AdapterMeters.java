package org.meft.adapter;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What the adapters cost, counted as they run: bytes across the bus each way, rows moved per layer,
 * time per phase, and the device bytes the adapter's tensors hold (parameters, gradients, optimizer
 * state, activations; by accounting the tensors the engine allocates), at peak. The adapters count
 * through static functions of their classes ({@code MeftAdapter.passBytes}, {@code
 * ParallelAdapter.residentBytes}, ...) that the memory planner calls too.
 */
public final class AdapterMeters {
  public static final String ROUTE = "route";
  public static final String RETRIEVE = "retrieve";
  public static final String GATHER = "gather";
  public static final String SCATTER = "scatter";

  private long hostToDeviceBytes;
  private long deviceToHostBytes;
  private long rowsMoved;
  private long layerPasses;
  private long residentBytes;
  private long passBytes;
  private long deviceBytesPeak;
  private final Map<String, Long> phaseNanos = new LinkedHashMap<>();

  public void hostToDevice(long bytes) {
    hostToDeviceBytes += bytes;
  }

  public void deviceToHost(long bytes) {
    deviceToHostBytes += bytes;
  }

  /** One layer's forward moved {@code rows} adapter rows to the device. */
  public void rows(int rows) {
    rowsMoved += rows;
    layerPasses++;
  }

  /** Device bytes held for the whole run: parameters, their gradients and AdamW moments. */
  public void resident(DeviceBytes bytes) {
    residentBytes += bytes.total();
    deviceBytesPeak = Math.max(deviceBytesPeak, residentBytes + passBytes);
  }

  /** Device bytes one forward/backward pass allocates for the adapter (rows, activations). */
  public void pass(DeviceBytes bytes) {
    passBytes += bytes.total();
    deviceBytesPeak = Math.max(deviceBytesPeak, residentBytes + passBytes);
  }

  /**
   * A short-lived device buffer of {@code bytes} exists now, on top of what is held: it counts
   * towards the peak but is not kept.
   */
  public void transientBytes(long bytes) {
    deviceBytesPeak = Math.max(deviceBytesPeak, residentBytes + passBytes + bytes);
  }

  /** A forward/backward pass ended and freed its tensors. */
  public void endPass() {
    passBytes = 0;
  }

  public void time(String phase, long nanos) {
    phaseNanos.merge(phase, nanos, Long::sum);
  }

  public long hostToDeviceBytes() {
    return hostToDeviceBytes;
  }

  public long deviceToHostBytes() {
    return deviceToHostBytes;
  }

  public long deviceBytesPeak() {
    return deviceBytesPeak;
  }

  /** Mean rows moved per layer per forward pass. */
  public double meanRowsPerLayer() {
    return layerPasses == 0 ? 0 : (double) rowsMoved / layerPasses;
  }

  public Map<String, Long> phaseNanos() {
    return phaseNanos;
  }
}
