package org.meft.store;

/**
 * Whether the host kernels use the JDK Vector API: when the JVM has the {@code
 * jdk.incubator.vector} module (bin/meft, the Spark executors and the tests add it) and {@code
 * -Dmeft.scalarKernels} is not set. Each vector kernel has a plain-Java twin used otherwise, and
 * the tests hold the two to each other.
 */
public final class VectorApi {
  public static final boolean AVAILABLE =
      ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()
          && !Boolean.getBoolean("meft.scalarKernels");

  private VectorApi() {}
}
