package org.meft.jobs.evaluate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

/**
 * An example's sampling seed depends on the run seed and its id only; the executor's model bound
 * follows its task slots unless configured.
 */
class DecodingTest {
  @Test
  void eachExampleSamplesFromItsOwnSeed() {
    Decoding decoding = new Decoding(4, 0.8f, 0.9f, 7);
    assertEquals(decoding.seedFor("q1"), new Decoding(1, 0.8f, 0.9f, 7).seedFor("q1"));
    assertNotEquals(decoding.seedFor("q1"), decoding.seedFor("q2"));
    assertNotEquals(decoding.seedFor("q1"), new Decoding(4, 0.8f, 0.9f, 8).seedFor("q1"));
    float[] logits = {0.1f, 0.5f, 0.2f, 0.9f, 0.3f};
    int[] first = draws(decoding, logits);
    assertEquals(
        java.util.Arrays.toString(first), java.util.Arrays.toString(draws(decoding, logits)));
    assertThrows(IllegalArgumentException.class, () -> new Decoding(-1, 0, 1, 1));
    assertThrows(IllegalArgumentException.class, () -> new Decoding(1, -1, 1, 1));
    assertThrows(IllegalArgumentException.class, () -> new Decoding(1, 1, 0, 1));
  }

  private static int[] draws(Decoding decoding, float[] logits) {
    var sampler = decoding.samplerFor("q1");
    int[] out = new int[16];
    for (int i = 0; i < out.length; i++) {
      out[i] = sampler.nextInPlace(logits.clone());
    }
    return out;
  }

  @Test
  void theModelBoundIsTheExecutorsTaskSlotsUnlessSet() {
    assertEquals(3, ExecutorModels.bound(new SparkConf(false).set("spark.master", "local[3]")));
    assertEquals(
        Runtime.getRuntime().availableProcessors(),
        ExecutorModels.bound(new SparkConf(false).set("spark.master", "local[*]")));
    assertEquals(
        2,
        ExecutorModels.bound(
            new SparkConf(false)
                .set("spark.master", "spark://h:7077")
                .set("spark.executor.cores", "4")
                .set("spark.task.cpus", "2")));
    assertEquals(
        1,
        ExecutorModels.bound(
            new SparkConf(false)
                .set("spark.master", "local[4]")
                .set(ExecutorModels.MODELS_KEY, "1")));
    assertEquals(1, ExecutorModels.bound(null));
  }
}
