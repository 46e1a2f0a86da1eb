package org.meft.datasets.testing;

import org.apache.spark.sql.SparkSession;

/**
 * One local Spark session for the whole test JVM (starting one costs seconds), replaced only when a
 * test asks for another number of cores. Spark stops it at JVM exit.
 */
public final class LocalSpark {
  private static SparkSession session;
  private static int sessionCores;

  private LocalSpark() {}

  /** A {@code local[cores]} session, without UI, with few shuffle partitions. */
  public static synchronized SparkSession session(int cores) {
    if (session != null && sessionCores == cores) {
      return session;
    }
    if (session != null) {
      session.stop();
    }
    session =
        SparkSession.builder()
            .master("local[" + cores + "]")
            .appName("meft-datasets-test")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .getOrCreate();
    sessionCores = cores;
    return session;
  }
}
