package org.meft.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonObject;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;

/**
 * The bus under the rows a meft layer moves each step: S rows of keys and S rows of values of width
 * d ({@link KernelShape#selected()}, {@link KernelShape#dim()}), in both directions, beside the
 * device's own copy of the same bytes. Host to device as {@code MeftAdapter} sends them (an array
 * created from an off-heap transfer buffer: {@code h2d}; the adapter then duplicates it on the
 * device: {@code h2d_engine}), from pageable and, on a GPU, from pinned (registered) memory; device
 * to host as the adapter takes its gradients back ({@code toByteBuffer}: {@code d2h}); and {@code
 * d2d_copy}, a duplicate of the same arrays on the device. Cases are timed interleaved ({@link
 * Harness}); each rate counts the bytes moved once (2 S d floats).
 */
final class TransferBench {
  private TransferBench() {}

  static JsonObject run(
      KernelShape shape,
      NDManager manager,
      BufferAllocator allocator,
      int warmup,
      int repetitions) {
    int rows = shape.selected();
    int dim = shape.dim();
    long bytes = (long) rows * dim * Float.BYTES;
    Shape arrayShape = new Shape(rows, dim);
    boolean gpu = manager.getDevice().isGpu();
    JsonObject json = new JsonObject();
    json.addProperty("device", manager.getDevice().toString());
    json.addProperty("rows", rows);
    json.addProperty("dim", dim);
    json.addProperty("bytes_per_transfer", 2 * bytes);
    try (NDManager scope = manager.newSubManager();
        ArrowBuf keys = filled(allocator, bytes, 1);
        ArrowBuf values = filled(allocator, bytes, 2);
        ArrowBuf pinnedKeys = filled(allocator, bytes, 3);
        ArrowBuf pinnedValues = filled(allocator, bytes, 4)) {
      ByteBuffer k = view(keys, bytes);
      ByteBuffer v = view(values, bytes);
      NDArray deviceKeys = scope.create(k, arrayShape, DataType.FLOAT32).duplicate();
      NDArray deviceValues = scope.create(v, arrayShape, DataType.FLOAT32).duplicate();
      json.addProperty(
          "round_trip_exact",
          deviceKeys.toByteBuffer().equals(view(keys, bytes))
              && deviceValues.toByteBuffer().equals(view(values, bytes)));
      List<Harness.Case> cases = new ArrayList<>();
      cases.add(Harness.Case.of("h2d", () -> send(scope, k, v, arrayShape, false)));
      cases.add(Harness.Case.of("h2d_engine", () -> send(scope, k, v, arrayShape, true)));
      cases.add(
          Harness.Case.of(
              "d2h",
              () -> {
                deviceKeys.toByteBuffer();
                deviceValues.toByteBuffer();
              }));
      cases.add(
          Harness.Case.of(
              "d2d_copy",
              () -> {
                try (NDArray a = deviceKeys.duplicate();
                    NDArray b = deviceValues.duplicate()) {
                  synchronize(b);
                }
              }));
      List<PinnedMemory> pinned = new ArrayList<>();
      try {
        if (gpu) {
          pinned.add(PinnedMemory.register(pinnedKeys.memoryAddress(), bytes));
          pinned.add(PinnedMemory.register(pinnedValues.memoryAddress(), bytes));
          ByteBuffer pk = view(pinnedKeys, bytes);
          ByteBuffer pv = view(pinnedValues, bytes);
          cases.add(Harness.Case.of("h2d_pinned", () -> send(scope, pk, pv, arrayShape, false)));
          json.addProperty(
              "d2h_pinned",
              "not measured: DJL 0.35.1 copies device arrays only into buffers it allocates");
        } else {
          json.addProperty("pinned", "not measured: a CPU run has no bus");
        }
      } catch (RuntimeException e) {
        json.addProperty("pinned_error", e.getMessage());
      }
      try {
        Map<String, Sample> samples = Harness.time(warmup, repetitions, cases);
        JsonObject rates = new JsonObject();
        samples.forEach(
            (name, sample) -> {
              JsonObject one = sample.toJson();
              one.addProperty("gb_per_s", 2 * bytes / sample.median() / 1e9);
              rates.add(name, one);
            });
        json.add("cases", rates);
      } finally {
        pinned.forEach(PinnedMemory::close);
      }
    }
    return json;
  }

  /** Keys and values to the device as the adapter sends them; with {@code duplicate} its copy. */
  private static void send(
      NDManager manager, ByteBuffer keys, ByteBuffer values, Shape shape, boolean duplicate) {
    try (NDArray a = manager.create(keys.rewind(), shape, DataType.FLOAT32);
        NDArray b = manager.create(values.rewind(), shape, DataType.FLOAT32)) {
      if (duplicate) {
        a.duplicate().close();
        b.duplicate().close();
      }
      synchronize(b);
    }
  }

  /** Waits for the device: a one-element read back orders after every queued kernel. */
  private static void synchronize(NDArray array) {
    try (NDArray one = array.get(0, 0)) {
      one.toFloatArray();
    }
  }

  private static ArrowBuf filled(BufferAllocator allocator, long bytes, long seed) {
    ArrowBuf buffer = allocator.buffer(bytes);
    SplittableRandom random = new SplittableRandom(seed);
    for (long offset = 0; offset < bytes; offset += Float.BYTES) {
      buffer.setFloat(offset, (float) random.nextGaussian());
    }
    return buffer;
  }

  private static ByteBuffer view(ArrowBuf buffer, long bytes) {
    return buffer.nioBuffer(0, (int) bytes).order(ByteOrder.nativeOrder());
  }
}
