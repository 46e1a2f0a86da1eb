package org.meft.bench;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;

/**
 * A host memory range page-locked and registered with CUDA ({@code cudaHostRegister}), so that
 * copies from and to it run at the bus's pinned rate; unregistered on close. DJL has no pinned
 * allocation of its own, so the device checks register the off-heap transfer buffers through the
 * CUDA runtime that DJL's {@code CudaUtils} also loads (JNA, library {@code cudart}).
 */
final class PinnedMemory implements AutoCloseable {
  /** The two runtime calls, and the error text. */
  interface CudaRuntime extends Library {
    int cudaHostRegister(Pointer address, long bytes, int flags);

    int cudaHostUnregister(Pointer address);

    String cudaGetErrorString(int error);
  }

  private static final int PORTABLE = 1;
  private static CudaRuntime runtime;

  private final Pointer address;

  private PinnedMemory(Pointer address) {
    this.address = address;
  }

  /**
   * Registers {@code bytes} at {@code address}.
   *
   * @throws IllegalStateException naming CUDA's error when the runtime is absent or refuses
   */
  static PinnedMemory register(long address, long bytes) {
    CudaRuntime cuda = runtime();
    Pointer pointer = new Pointer(address);
    int error = cuda.cudaHostRegister(pointer, bytes, PORTABLE);
    if (error != 0) {
      throw new IllegalStateException(
          "cudaHostRegister failed: " + cuda.cudaGetErrorString(error) + " (" + error + ")");
    }
    return new PinnedMemory(pointer);
  }

  private static synchronized CudaRuntime runtime() {
    if (runtime == null) {
      try {
        runtime = Native.load("cudart", CudaRuntime.class);
      } catch (UnsatisfiedLinkError e) {
        throw new IllegalStateException(
            "no CUDA runtime (libcudart.so) on jna.library.path: " + e.getMessage(), e);
      }
    }
    return runtime;
  }

  @Override
  public void close() {
    runtime.cudaHostUnregister(address);
  }
}
