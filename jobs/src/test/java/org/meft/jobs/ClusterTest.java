package org.meft.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.meft.checkpoint.AdapterCheckpoint;
import org.meft.datasets.prepare.PrepareConfig;
import org.meft.datasets.prepare.PrepareJob;
import org.meft.jobs.demo.DemoData;
import org.meft.jobs.evaluate.EvaluateJob;
import org.meft.jobs.testing.StandaloneCluster;
import org.meft.jobs.train.RunTask;
import org.meft.jobs.train.Sweep;
import org.meft.jobs.train.SweepRun;
import org.meft.jobs.train.TrainSweepJob;

/**
 * The sweep on a real Spark standalone cluster (a master and two one-core workers, separate JVMs on
 * 127.0.0.1): two runs train in parallel, one executor is killed while its run trains, Spark
 * retries the task, the run resumes from its checkpoint and ends with the losses of an
 * uninterrupted run; then the cluster evaluates both runs.
 */
class ClusterTest {
  private static final Pattern PID =
      Pattern.compile("attempt 0 on executor \\S+ \\(host \\S+, pid (\\d+)");
  private static final int STEPS = 40;

  @TempDir Path dir;

  @Test
  @Timeout(value = 480, unit = TimeUnit.SECONDS)
  void aKilledExecutorsRunIsRetriedAndResumesToTheSameLosses() throws Exception {
    long start = System.nanoTime();
    Path model = MainTest.tinyModel(dir.resolve("model"));
    Path prepared = dir.resolve("prepared");
    try (SparkSession local = SparkSessions.open("test", "local[2]")) {
      PrepareJob.run(
          local,
          new PrepareConfig(
              List.of(DemoData.writeEmbedded(dir.resolve("raw"))),
              List.of("nq"),
              model.resolve("tokenizer.json"),
              prepared,
              64,
              1,
              0.25,
              false));
    }
    progress("prepared", start);
    Path sweepFile = dir.resolve("sweep.json");
    Files.writeString(
        sweepFile,
        "{\"model\": \"model\", \"steps\": "
            + STEPS
            + ", \"batch-size\": 2, \"lr\": 0.01, \"max-length\": 64,"
            + " \"checkpoint-every\": 1, \"log-every\": 1, \"runs\": ["
            + "{\"dataset\": \"nq\", \"method\": \"meft\", \"adapter-size\": 64, \"top-k\": 8,"
            + " \"probes\": 2, \"max-rows\": 32},"
            + "{\"dataset\": \"nq\", \"method\": \"lora\", \"lora-rank\": 4}]}\n",
        StandardCharsets.UTF_8);
    List<SweepRun> runs = Sweep.read(sweepFile, prepared);
    Path clustered = dir.resolve("clustered");
    Path killedRun = RunTask.runDir(clustered, "nq-meft");

    List<Row> metrics;
    long predictions;
    ExecutorService driver = Executors.newSingleThreadExecutor();
    try (StandaloneCluster cluster =
        StandaloneCluster.start(dir.resolve("cluster"), 2, Duration.ofSeconds(120))) {
      progress("cluster up", start);
      SparkSession spark =
          SparkSession.builder()
              .appName("meft cluster test")
              .master(cluster.masterUrl())
              .config("spark.driver.host", "127.0.0.1")
              .config("spark.driver.bindAddress", "127.0.0.1")
              .config("spark.executor.cores", "1")
              .config("spark.cores.max", "2")
              .config("spark.executor.memory", "1g")
              .config("spark.task.maxFailures", "4")
              .config("spark.ui.enabled", "false")
              .config("spark.executor.extraClassPath", StandaloneCluster.classFolders())
              .config("spark.executor.extraJavaOptions", StandaloneCluster.executorJavaOptions())
              .getOrCreate();
      try {
        Future<List<Row>> sweep =
            driver.submit(() -> TrainSweepJob.run(spark, runs, clustered).collectAsList());
        long killed = killDuringTraining(killedRun, sweep, cluster);
        progress("executor " + killed + " killed", start);
        metrics = sweep.get(300, TimeUnit.SECONDS);
        progress("sweep done", start);
        predictions =
            EvaluateJob.run(
                    spark,
                    prepared,
                    clustered,
                    dir.resolve("predictions"),
                    new EvaluateJob.Config(8, 4, 2))
                .count();
        progress("evaluation done", start);
        assertTrue(killed > 0);
      } catch (Exception | AssertionError e) {
        throw new AssertionError(e + "\n" + cluster.logTails(), e);
      } finally {
        spark.stop();
      }
    } finally {
      driver.shutdownNow();
    }

    Map<String, Row> byRun = new HashMap<>();
    metrics.forEach(row -> byRun.put(row.getAs("run_id"), row));
    Row retried = byRun.get("nq-meft");
    assertTrue(retried.<Integer>getAs("attempt") > 0, "the killed run was retried: " + retried);
    int resumedAt = retried.getAs("resumed_from_step");
    assertTrue(resumedAt > 0 && resumedAt < STEPS, "resumed from its checkpoint: " + resumedAt);
    String log = Files.readString(killedRun.resolve(RunTask.LOG));
    assertTrue(
        log.contains(
            "resumed from " + killedRun.resolve(AdapterCheckpoint.directoryName(resumedAt))),
        log);
    assertEquals(
        0, byRun.get("nq-lora").<Integer>getAs("attempt"), "the other run was not touched");
    for (Row row : metrics) {
      assertTrue(!row.<String>getAs("executor").equals("driver"), "trained on an executor");
      assertEquals(STEPS, row.<Integer>getAs("steps"));
    }
    assertEquals(2 * 4, predictions, "both runs decoded the 4 nq test examples");

    // The same sweep uninterrupted, in this JVM: the losses agree step by step.
    List<Row> reference;
    try (SparkSession local = SparkSessions.open("test", "local[1]")) {
      reference = TrainSweepJob.run(local, runs, dir.resolve("reference")).collectAsList();
    }
    progress("reference sweep done", start);
    for (Row expected : reference) {
      Row actual = byRun.get(expected.<String>getAs("run_id"));
      List<Double> want = expected.getList(expected.fieldIndex("losses"));
      List<Double> got = actual.getList(actual.fieldIndex("losses"));
      assertEquals(want.size(), got.size());
      for (int i = 0; i < want.size(); i++) {
        assertEquals(want.get(i), got.get(i), 1e-4, actual.getAs("run_id") + " step " + (i + 1));
      }
      assertEquals(
          expected.<Long>getAs("trainable_params"), actual.<Long>getAs("trainable_params"));
    }
  }

  private static void progress(String what, long start) {
    System.err.printf("ClusterTest: %s after %.1f s%n", what, (System.nanoTime() - start) / 1e9);
  }

  /**
   * Waits until the run's first attempt has a complete checkpoint, then kills that attempt's
   * executor JVM; returns its pid.
   */
  private static long killDuringTraining(Path runDir, Future<?> sweep, StandaloneCluster cluster)
      throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
    while (System.nanoTime() < deadline) {
      if (sweep.isDone()) {
        sweep.get();
        throw new AssertionError("the sweep ended before an executor could be killed");
      }
      Path log = runDir.resolve(RunTask.LOG);
      if (Files.exists(log) && AdapterCheckpoint.latest(runDir).isPresent()) {
        Matcher matcher = PID.matcher(Files.readString(log));
        if (matcher.find()) {
          long pid = Long.parseLong(matcher.group(1));
          assertTrue(
              cluster.executorPids().contains(pid), "pid " + pid + " is one of the executors");
          assertTrue(AdapterCheckpoint.latest(runDir).isPresent());
          ProcessHandle.of(pid).orElseThrow().destroyForcibly();
          return pid;
        }
      }
      StandaloneCluster.sleep(20);
    }
    throw new AssertionError("the run never reached its first checkpoint");
  }
}
