package org.meft.bench;

import ai.djl.Device;
import ai.djl.util.cuda.CudaUtils;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * The memory a device has in use, read every millisecond on a daemon thread, with its peak since
 * the last {@link #reset}. On a GPU the reading is CUDA's used memory ({@code cudaMemGetInfo}
 * through DJL's {@link CudaUtils}: the CUDA context, PyTorch's caching allocator's reserved blocks
 * and any other process's memory, so it bounds the engine's own accounting from above). On the CPU
 * the device is host memory and the reading is the process's resident set.
 */
final class DeviceMemorySampler implements AutoCloseable {
  private static final long PAGE_BYTES = 4096;

  private final LongSupplier reading;
  private final String source;
  private final AtomicLong peak = new AtomicLong();
  private final Thread thread;
  private volatile boolean running = true;

  private DeviceMemorySampler(LongSupplier reading, String source) {
    this.reading = reading;
    this.source = source;
    peak.set(reading.getAsLong());
    thread = new Thread(this::sample, "device-memory-sampler");
    thread.setDaemon(true);
    thread.start();
  }

  /** Starts sampling {@code device}. */
  static DeviceMemorySampler start(Device device) {
    if (device.isGpu()) {
      return new DeviceMemorySampler(
          () -> CudaUtils.getGpuMemory(device).getUsed(), "cudaMemGetInfo (total - free)");
    }
    return new DeviceMemorySampler(DeviceMemorySampler::residentBytes, "process RSS (CPU run)");
  }

  private void sample() {
    while (running) {
      peak.accumulateAndGet(reading.getAsLong(), Math::max);
      try {
        Thread.sleep(1);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  /** The memory in use now. */
  long current() {
    return reading.getAsLong();
  }

  /** The highest reading since the start or the last reset. */
  long peak() {
    return Math.max(peak.get(), current());
  }

  /** Starts a new peak from the current reading. */
  void reset() {
    peak.set(current());
  }

  /** What the readings are. */
  String source() {
    return source;
  }

  private static long residentBytes() {
    try {
      String[] fields = Files.readString(Path.of("/proc/self/statm")).trim().split("\\s+");
      return Long.parseLong(fields[1]) * PAGE_BYTES;
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  @Override
  public void close() {
    running = false;
    thread.interrupt();
  }
}
