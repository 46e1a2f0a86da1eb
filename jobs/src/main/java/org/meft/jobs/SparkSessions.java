package org.meft.jobs;

import java.lang.management.ManagementFactory;
import java.util.stream.Collectors;
import org.apache.spark.sql.SparkSession;

/**
 * The Spark session of a command. {@code --master} wins; without it, the master spark-submit set,
 * else {@code local[*]}. When {@code bin/meft} itself drives a cluster (not spark-submit), the
 * executors get this JVM's class path and its {@code --add-opens}, {@code --add-modules} flags,
 * unless configured: the cluster must then see this machine's files (one machine, or a shared file
 * system).
 */
public final class SparkSessions {
  private SparkSessions() {}

  /** The master a command runs on: {@code flagValue} if given, else spark-submit's, else local. */
  public static String master(String flagValue) {
    if (flagValue != null) {
      return flagValue;
    }
    return System.getProperty("spark.master", "local[*]");
  }

  /** Opens (or joins) the session for {@code command} on {@code master}. */
  public static SparkSession open(String command, String master) {
    SparkSession.Builder builder = SparkSession.builder().appName("meft " + command).master(master);
    if (master.startsWith("local")) {
      builder.config("spark.ui.enabled", "false");
    } else if (!launchedBySparkSubmit()) {
      if (System.getProperty("spark.executor.extraClassPath") == null) {
        builder.config("spark.executor.extraClassPath", System.getProperty("java.class.path"));
      }
      if (System.getProperty("spark.executor.extraJavaOptions") == null) {
        builder.config(
            "spark.executor.extraJavaOptions",
            ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                .filter(
                    arg ->
                        arg.startsWith("--add-opens")
                            || arg.startsWith("--add-modules")
                            || arg.startsWith("-D"))
                .filter(arg -> !arg.startsWith("-Dspark."))
                .collect(Collectors.joining(" ")));
      }
    }
    return builder.getOrCreate();
  }

  private static boolean launchedBySparkSubmit() {
    return System.getProperty("spark.submit.deployMode") != null;
  }
}
