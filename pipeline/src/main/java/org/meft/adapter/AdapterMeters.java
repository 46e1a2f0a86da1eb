package org.meft.adapter;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What the adapters cost, counted as they run: bytes across the bus each way, rows moved per layer,
 * time per phase, and the device bytes the adapter's tensors hold (parameters, gradients, optimizer
 * state, activations; by accounting the tensors the engine allocates), at peak. The adapters count
 * through static functions of their classes ({@code MeftAdapter.passBytes}, {@code
 * ParallelAdapter.residentBytes}, ...) that the memory planner calls too.
 *
 * <p>Activations: without recomputation a forward keeps every layer's adapter activations ({@link
 * #pass}) until the one backward ({@link #endPass}); with activation recomputation a layer's
 * adapter activations live only while that layer runs, in the first forward (without gradient) or
 * in its recomputation and backward ({@link #endLayer} after each), so at most one layer's are held
 * at a time. {@link #activationPeak} is the same accounting as a formula, for planning.
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
  private long choicesMade;
  private long choicesKept;
  private long distinctRows;
  private long retrievals;
  private long[] expertProbes = new long[0];
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

  /**
   * One layer's retrieval: the tokens made {@code made} (token, row) choices over {@code distinct}
   * rows, and {@code kept} of those choices survived the cap on the rows that go to the device.
   */
  public void choices(long made, long kept, int distinct) {
    choicesMade += made;
    choicesKept += kept;
    distinctRows += distinct;
    retrievals++;
  }

  /** One layer's routing: each token probed the experts {@code experts} (P per token). */
  public void probes(int[] experts, int expertCount) {
    if (expertProbes.length < expertCount) {
      expertProbes = Arrays.copyOf(expertProbes, expertCount);
    }
    for (int e : experts) {
      expertProbes[e]++;
    }
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

  /**
   * With activation recomputation: one layer's forward, or its recomputation and backward, ended
   * and freed the adapter's tensors of that layer.
   */
  public void endLayer() {
    passBytes = 0;
  }

  /**
   * The peak adapter activation bytes of one micro-batch, as these meters count them, from each
   * layer's {@code pass} bytes (what its forward holds for backward, e.g. {@code
   * ParallelAdapter.passBytes}, {@code MeftAdapter.passBytes}, the sum of {@code
   * LoraAdapters.passBytes} over a layer's branches) and {@code transientBytes} (what lives a
   * moment longer on top, e.g. {@code ParallelAdapter.transientBytes}; 0 for LoRA), in layer order:
   * {@code max_j (sum_{l<=j} pass_l + transient_j)} without recomputation, {@code max_j (pass_j +
   * transient_j)} with it. The peak of {@link #deviceBytesPeak} is the resident bytes plus this.
   */
  public static long activationPeak(long[] pass, long[] transientBytes, boolean recompute) {
    long held = 0;
    long peak = 0;
    for (int j = 0; j < pass.length; j++) {
      held = recompute ? pass[j] : held + pass[j];
      peak = Math.max(peak, held + transientBytes[j]);
    }
    return peak;
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

  /** The counts that describe the whole run so far, for a checkpoint. */
  public MeterTotals totals() {
    return new MeterTotals(
        hostToDeviceBytes, deviceToHostBytes, rowsMoved, layerPasses, deviceBytesPeak);
  }

  /**
   * Adds the totals of the run's earlier processes (from its checkpoint) to this process's counts,
   * so that {@link #totals} and the figures derived from them cover the whole run.
   */
  public void carry(MeterTotals earlier) {
    hostToDeviceBytes += earlier.hostToDeviceBytes();
    deviceToHostBytes += earlier.deviceToHostBytes();
    rowsMoved += earlier.rowsMoved();
    layerPasses += earlier.layerPasses();
    deviceBytesPeak = Math.max(deviceBytesPeak, earlier.deviceBytesPeak());
  }

  /**
   * The fraction of the tokens' top-K choices whose row went to the device (1 when the union of the
   * choices fits under the row cap); 1 when nothing was retrieved.
   */
  public double keptChoiceFraction() {
    return choicesMade == 0 ? 1 : (double) choicesKept / choicesMade;
  }

  /** Mean distinct rows the tokens chose per layer per retrieval, before the row cap. */
  public double meanDistinctRowsPerLayer() {
    return retrievals == 0 ? 0 : (double) distinctRows / retrievals;
  }

  /**
   * How evenly the router spread its probes over the experts, over every layer's routing: the
   * entropy of the probe counts over the log of the number of experts (1: uniform, 0: one expert
   * takes every probe); 1 with one expert, 0 when nothing was routed.
   */
  public double expertLoadEntropy() {
    long total = 0;
    for (long count : expertProbes) {
      total += count;
    }
    if (total == 0) {
      return 0;
    }
    if (expertProbes.length == 1) {
      return 1;
    }
    double entropy = 0;
    for (long count : expertProbes) {
      if (count > 0) {
        double share = (double) count / total;
        entropy -= share * Math.log(share);
      }
    }
    return entropy / Math.log(expertProbes.length);
  }

  public Map<String, Long> phaseNanos() {
    return phaseNanos;
  }
}
