package org.meft.jobs.evaluate;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;
import org.meft.forgetting.ForgettingReference;
import org.meft.forgetting.ForgettingReferences;
import org.meft.load.LanguageModel;
import org.meft.load.ModelCache;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The evaluation's {@link ModelCache} of this JVM: the tasks that run in one executor share its
 * base models and adapters, so a model loads once per executor and an adapter once per executor and
 * run (while the bound keeps it; the job hands the slices out run by run).
 *
 * <p>Its bound is {@value #MODELS_KEY} when set, else the executor's task slots, so each task that
 * runs at the same time has a model of its own and none waits. It is closed by {@link
 * EvaluateJob#run} when the job ends (in local mode the executor is the driver's JVM), and on
 * cluster executors by a JVM shutdown hook: an executor lives as long as its application and no
 * Spark callback runs on every executor at a job's end (a task completion listener would close it
 * after every task, which is what the cache is for avoiding).
 *
 * <p>Its loader computes each base model's {@link ForgettingReference} when it loads the base
 * ({@link ForgettingReferences}), for the story prompts the cache was opened with.
 */
public final class ExecutorModels {
  /** The most models one executor holds for the evaluation. */
  public static final String MODELS_KEY = "spark.meft.evaluate.modelsPerExecutor";

  private static final Logger LOG = LoggerFactory.getLogger(ExecutorModels.class);
  private static final Pattern LOCAL = Pattern.compile("local\\[(\\*|\\d+)(,\\d+)?]");
  private static ModelCache<LanguageModel, ModelCache.LoadedAdapter> cache;
  private static ForgettingReferences references;
  private static boolean hooked;
  private static int baseLoads;
  private static int adapterLoads;

  private ExecutorModels() {}

  /**
   * This JVM's cache, opened on first use, with the forgetting references of {@code
   * forgettingPrompts} story prompts (0: none); one open for another number is closed first (a job
   * asks for one number, so this happens only between jobs).
   */
  public static synchronized ModelCache<LanguageModel, ModelCache.LoadedAdapter> get(
      int forgettingPrompts) {
    if (cache != null && references.prompts() != forgettingPrompts) {
      close();
    }
    if (cache == null) {
      SparkEnv env = SparkEnv.get();
      references = new ForgettingReferences(ModelCache.languageModelLoader(), forgettingPrompts);
      cache = new ModelCache<>(bound(env == null ? null : env.conf()), references);
      LOG.info("evaluation model cache: at most {} models in this JVM", cache.bound());
      if (!hooked) {
        hooked = true;
        Runtime.getRuntime()
            .addShutdownHook(new Thread(ExecutorModels::close, "meft-model-cache-close"));
      }
    }
    return cache;
  }

  /** The forgetting reference of a base model that this JVM's open cache loaded. */
  public static synchronized ForgettingReference forgettingReference(ModelCache.BaseKey base) {
    if (references == null) {
      throw new IllegalStateException("the evaluation model cache is not open");
    }
    return references.reference(base);
  }

  /** Frees this JVM's models (the next {@link #get} opens a new cache). */
  public static synchronized void close() {
    if (cache != null) {
      baseLoads += cache.baseLoads();
      adapterLoads += cache.adapterLoads();
      try {
        cache.close();
      } catch (RuntimeException e) {
        LOG.warn("closing the evaluation model cache: {}", e.getMessage());
      }
      cache = null;
      references = null;
    }
  }

  /** Base models loaded by this JVM's caches so far, closed ones included. */
  public static synchronized int baseLoads() {
    return baseLoads + (cache == null ? 0 : cache.baseLoads());
  }

  /** Adapters installed by this JVM's caches so far, closed ones included. */
  public static synchronized int adapterLoads() {
    return adapterLoads + (cache == null ? 0 : cache.adapterLoads());
  }

  /** {@value #MODELS_KEY}, else the task slots of an executor ({@code cores / spark.task.cpus}). */
  static int bound(SparkConf conf) {
    if (conf == null) {
      return 1;
    }
    if (conf.contains(MODELS_KEY)) {
      return conf.getInt(MODELS_KEY, 1);
    }
    int taskCpus = Math.max(1, conf.getInt("spark.task.cpus", 1));
    int cores = Runtime.getRuntime().availableProcessors();
    Matcher local = LOCAL.matcher(conf.get("spark.master", ""));
    if (local.matches()) {
      cores = local.group(1).equals("*") ? cores : Integer.parseInt(local.group(1));
    } else if (conf.contains("spark.executor.cores")) {
      cores = conf.getInt("spark.executor.cores", cores);
    }
    return Math.max(1, cores / taskCpus);
  }
}
