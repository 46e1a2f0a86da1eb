package org.meft.store;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ForkJoinPool;

/** Helpers shared by the store tests. */
public final class StoreTesting {
  private StoreTesting() {}

  /** A direct, native-order buffer holding {@code values}. */
  static ByteBuffer direct(float[] values) {
    ByteBuffer b = ByteBuffer.allocateDirect(values.length * Float.BYTES);
    b.order(ByteOrder.nativeOrder()).asFloatBuffer().put(values);
    return b.order(ByteOrder.nativeOrder());
  }

  /** The floats of a native-order buffer from byte 0. */
  static float[] floats(ByteBuffer b, int n) {
    float[] out = new float[n];
    b.duplicate().clear().order(ByteOrder.nativeOrder()).asFloatBuffer().get(out);
    return out;
  }

  /** Runs {@code task} on a fork-join pool of {@code threads} threads. */
  public static <T> T onThreads(int threads, Callable<T> task) throws Exception {
    ForkJoinPool pool = new ForkJoinPool(threads);
    try {
      return pool.submit(task).get();
    } catch (ExecutionException e) {
      throw (Exception) e.getCause();
    } finally {
      pool.shutdown();
    }
  }
}
