package org.meft.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SamplerTest {

  @Test
  void randomNumbersFollowRunCsXorshift() {
    // run.c's random_f32 with rng_state = 42, computed by an independent Python transcription.
    Sampler sampler = Sampler.random(1, 1, 42);
    float[] expected = {
      0.3390852212905884f, 0.7822558283805847f, 0.790136992931366f, 0.9440426230430603f
    };
    for (float value : expected) {
      assertEquals(value, sampler.randomFloat());
    }
  }

  @Test
  void greedyTakesTheFirstLargestLogit() {
    assertEquals(2, Sampler.greedy().nextInPlace(new float[] {0.1f, 3f, 5f, 5f, -1f}));
  }

  @Test
  void topPSamplesOnlyInsideTheNucleus() {
    // probabilities 0.5, 0.3, 0.15, 0.05: with p = 0.7 the nucleus is {0, 1}
    float[] probabilities = {0.05f, 0.5f, 0.15f, 0.3f};
    for (float coin = 0; coin < 1; coin += 0.01f) {
      int token = Sampler.sampleTopP(probabilities.clone(), 0.7f, coin);
      assertTrue(token == 1 || token == 3, "coin " + coin + " gave " + token);
    }
    assertEquals(1, Sampler.sampleTopP(probabilities, 0.7f, 0.1f));
    assertEquals(3, Sampler.sampleTopP(probabilities, 0.7f, 0.99f));
  }

  @Test
  void multinomialFollowsTheCumulativeDistribution() {
    float[] probabilities = {0.25f, 0.5f, 0.25f};
    assertEquals(0, Sampler.sampleMultinomial(probabilities, 0.2f));
    assertEquals(1, Sampler.sampleMultinomial(probabilities, 0.7f));
    assertEquals(2, Sampler.sampleMultinomial(probabilities, 0.8f));
  }

  @Test
  void seededSamplingIsReproducible() {
    float[] logits = {1f, 2f, 0.5f, 1.5f, 0f};
    Sampler a = Sampler.random(0.9f, 0.95f, 1234);
    Sampler b = Sampler.random(0.9f, 0.95f, 1234);
    for (int i = 0; i < 50; i++) {
      assertEquals(a.nextInPlace(logits.clone()), b.nextInPlace(logits.clone()));
    }
  }

  @Test
  void invalidSettingsAreRefused() {
    assertThrows(IllegalArgumentException.class, () -> Sampler.random(-1, 1, 1));
    assertThrows(IllegalArgumentException.class, () -> Sampler.random(1, 0, 1));
    assertThrows(IllegalArgumentException.class, () -> Sampler.random(1, 1.5f, 1));
    assertThrows(IllegalArgumentException.class, () -> Sampler.random(1, 1, 0));
  }
}
