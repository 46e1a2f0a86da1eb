package org.meft.jobs.train;

import ai.djl.Device;
import ai.djl.engine.Engine;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Map;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where a task runs: its attempt, executor, process and device. The device is {@code cuda:N} when
 * Spark gave the task a GPU ({@code spark.task.resource.gpu.amount=1}, address N) and the PyTorch
 * build has CUDA; otherwise {@code cpu}, and a GPU the engine cannot use is logged.
 *
 * @param attempt the task's attempt number (0 the first time; more after a retry)
 */
public record TaskPlace(int attempt, String executor, String host, long pid, String device) {
  private static final Logger LOG = LoggerFactory.getLogger(TaskPlace.class);

  /** The place of the running task (attempt 0 on the driver when there is no task). */
  public static TaskPlace current() {
    TaskContext context = TaskContext.get();
    int attempt = context == null ? 0 : context.attemptNumber();
    String executor = SparkEnv.get() == null ? "driver" : SparkEnv.get().executorId();
    return new TaskPlace(
        attempt, executor, hostName(), ProcessHandle.current().pid(), deviceOf(context));
  }

  private static String deviceOf(TaskContext context) {
    if (context == null) {
      return "cpu";
    }
    Map<String, ResourceInformation> resources = context.resourcesJMap();
    ResourceInformation gpu = resources.get("gpu");
    if (gpu == null || gpu.addresses().length == 0) {
      return "cpu";
    }
    if (Engine.getInstance().getGpuCount() == 0) {
      LOG.warn(
          "the task was given GPU {} but the PyTorch library has no CUDA: training on the CPU",
          gpu.addresses()[0]);
      return "cpu";
    }
    return "cuda:" + gpu.addresses()[0];
  }

  private static String hostName() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (UnknownHostException e) {
      return "unknown";
    }
  }

  /** The DJL device of {@link #device}: {@code cuda:N} is GPU N, anything else the CPU. */
  public Device djlDevice() {
    return device.startsWith("cuda:")
        ? Device.gpu(Integer.parseInt(device.substring("cuda:".length())))
        : Device.cpu();
  }

  /** One line for a run's log. */
  public String describe() {
    return "attempt "
        + attempt
        + " on executor "
        + executor
        + " (host "
        + host
        + ", pid "
        + pid
        + ", device "
        + device
        + ")";
  }
}
