package org.meft.jobs.task;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;
import org.apache.spark.TaskContext;

/**
 * PyTorch's CPU threads in a Spark task: as many as the task's cores ({@code spark.task.cpus},
 * default 1) unless {@code -Dai.djl.pytorch.num_threads} says otherwise. PyTorch's default, one
 * thread per core for every task of the executor, oversubscribes the cores when tasks run side by
 * side, and OpenMP's spinning threads then make each step many times slower.
 */
public final class TaskThreads {
  private TaskThreads() {}

  /** Sets the threads for the running task (one when there is no task). */
  public static void limitToTaskCores() {
    if (System.getProperty("ai.djl.pytorch.num_threads") != null) {
      return;
    }
    TaskContext context = TaskContext.get();
    int cores = context == null ? 1 : Math.max(1, context.cpus());
    Engine.getEngine("PyTorch"); // loads the native library
    if (JniUtils.getNumThreads() != cores) {
      JniUtils.setNumThreads(cores);
    }
  }
}
