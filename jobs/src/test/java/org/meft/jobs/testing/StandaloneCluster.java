package org.meft.jobs.testing;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A Spark standalone cluster on 127.0.0.1 made from the test class path: a master and workers, each
 * its own JVM, with a SPARK_HOME whose {@code jars/} links the class path's jars (the workers
 * launch executors from it). Closing it kills the executors, workers and master.
 */
public final class StandaloneCluster implements AutoCloseable {
  private final Path home;
  private final Path logs;
  private final List<Process> processes = new ArrayList<>();
  private final int masterPort;
  private final int masterUiPort;

  private StandaloneCluster(Path dir) {
    this.home = dir.resolve("spark-home");
    this.logs = dir.resolve("logs");
    this.masterPort = freePort();
    this.masterUiPort = freePort();
  }

  /** Starts a master and {@code workers} workers of one core each; waits until all registered. */
  public static StandaloneCluster start(Path dir, int workers, Duration timeout) {
    StandaloneCluster cluster = new StandaloneCluster(dir);
    try {
      cluster.makeHome();
      cluster.launch(
          "master",
          List.of(
              "org.apache.spark.deploy.master.Master",
              "--host",
              "127.0.0.1",
              "--port",
              String.valueOf(cluster.masterPort),
              "--webui-port",
              String.valueOf(cluster.masterUiPort)));
      for (int i = 0; i < workers; i++) {
        Path work = Files.createDirectories(dir.resolve("worker-" + i));
        cluster.launch(
            "worker-" + i,
            List.of(
                "org.apache.spark.deploy.worker.Worker",
                "--host",
                "127.0.0.1",
                "--cores",
                "1",
                "--memory",
                "2g",
                "--work-dir",
                work.toString(),
                "--webui-port",
                String.valueOf(freePort()),
                cluster.masterUrl()));
      }
      cluster.awaitWorkers(workers, timeout);
      return cluster;
    } catch (IOException e) {
      cluster.close();
      throw new UncheckedIOException(e);
    } catch (RuntimeException | Error e) {
      cluster.close();
      throw e;
    }
  }

  public String masterUrl() {
    return "spark://127.0.0.1:" + masterPort;
  }

  /** The class path entries that are folders (the modules' classes): executors add them. */
  public static String classFolders() {
    return classPath().stream()
        .filter(entry -> !entry.endsWith(".jar"))
        .collect(Collectors.joining(File.pathSeparator));
  }

  /** The JVM flags executors need: this JVM's --add-opens and -D options. */
  public static String executorJavaOptions() {
    return ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
            .filter(arg -> arg.startsWith("--add-opens") || arg.startsWith("-Dio.netty"))
            .collect(Collectors.joining(" "))
        + " -Dai.djl.offline=true";
  }

  /** The pids of the executor JVMs (CoarseGrainedExecutorBackend) the workers run now. */
  public List<Long> executorPids() {
    List<Long> pids = new ArrayList<>();
    for (Process process : processes) {
      process
          .descendants()
          .filter(ProcessHandle::isAlive)
          .filter(
              p ->
                  p.info()
                      .arguments()
                      .map(args -> String.join(" ", args).contains("CoarseGrainedExecutorBackend"))
                      .orElse(false))
          .forEach(p -> pids.add(p.pid()));
    }
    return pids;
  }

  /** The last lines of every process's and executor's log, for a failure message. */
  public String logTails() {
    StringBuilder text = new StringBuilder();
    try (Stream<Path> files = Files.walk(logs.getParent())) {
      for (Path file :
          files
              .filter(Files::isRegularFile)
              .filter(p -> p.toString().endsWith(".log") || p.endsWith("stderr"))
              .sorted()
              .toList()) {
        List<String> lines = Files.readAllLines(file);
        text.append("==> ").append(file).append('\n');
        lines
            .subList(Math.max(0, lines.size() - 15), lines.size())
            .forEach(line -> text.append(line).append('\n'));
      }
    } catch (IOException | UncheckedIOException e) {
      text.append("(cannot read the logs: ").append(e).append(")\n");
    }
    return text.toString();
  }

  @Override
  public void close() {
    for (Process process : processes) {
      process.descendants().forEach(ProcessHandle::destroyForcibly);
      process.destroyForcibly();
    }
    for (Process process : processes) {
      try {
        process.waitFor();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private void makeHome() throws IOException {
    Path jars = Files.createDirectories(home.resolve("jars"));
    // Spark's launcher takes SPARK_HOME/jars when a RELEASE file marks a distribution.
    Files.writeString(home.resolve("RELEASE"), "Spark from the Maven class path, for tests\n");
    for (String entry : classPath()) {
      Path jar = Path.of(entry);
      if (entry.endsWith(".jar") && Files.isRegularFile(jar)) {
        Path link = jars.resolve(jar.getFileName());
        if (!Files.exists(link)) {
          Files.createSymbolicLink(link, jar.toAbsolutePath());
        }
      }
    }
    Files.createDirectories(logs);
  }

  private void launch(String name, List<String> mainAndArgs) throws IOException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Xmx256m");
    command.addAll(List.of(executorJavaOptions().split(" ")));
    command.add("-cp");
    command.add(home.resolve("jars") + File.separator + "*");
    command.addAll(mainAndArgs);
    ProcessBuilder builder = new ProcessBuilder(command);
    builder.environment().put("SPARK_HOME", home.toString());
    builder.environment().put("SPARK_SCALA_VERSION", "2.13");
    builder.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
    builder.redirectErrorStream(true);
    builder.redirectOutput(logs.resolve(name + ".log").toFile());
    processes.add(builder.start());
  }

  private void awaitWorkers(int workers, Duration timeout) {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    Pattern alive = Pattern.compile("\"aliveworkers\"\\s*:\\s*(\\d+)");
    long deadline = System.nanoTime() + timeout.toNanos();
    String last = "";
    while (System.nanoTime() < deadline) {
      for (Process process : processes) {
        if (!process.isAlive()) {
          throw new IllegalStateException("a cluster process exited:\n" + logTails());
        }
      }
      try {
        last =
            http.send(
                    HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + masterUiPort + "/json/"))
                        .timeout(Duration.ofSeconds(2))
                        .build(),
                    HttpResponse.BodyHandlers.ofString())
                .body();
        Matcher matcher = alive.matcher(last);
        if (matcher.find() && Integer.parseInt(matcher.group(1)) >= workers) {
          return;
        }
      } catch (IOException e) {
        last = e.toString();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
      sleep(500);
    }
    throw new IllegalStateException(
        workers + " workers did not register in " + timeout + " (" + last + ")\n" + logTails());
  }

  /** The test class path: surefire's list when it runs the tests from a manifest-only jar. */
  public static List<String> classPath() {
    String path = System.getProperty("surefire.test.class.path");
    if (path == null || path.isBlank()) {
      path = System.getProperty("java.class.path");
    }
    return List.of(path.split(File.pathSeparator));
  }

  private static int freePort() {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Sleeps, restoring the interrupt flag. */
  public static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
