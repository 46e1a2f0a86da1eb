package org.meft.jobs.evaluate;

import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import org.meft.generate.Sampler;
import org.meft.plan.DecodeBatch;

/**
 * How the evaluation decodes: {@code batch} records per call of the decoder ({@link #AUTO}: as many
 * as the run's memory plan allows, {@link DecodeBatch}), greedily when {@code temperature} is 0,
 * else sampled (top-p {@code topP}) with a seed per example drawn from {@code seed} and the
 * example's id, so an example's sample does not depend on its slice, its batch or the number of
 * executors.
 */
public record Decoding(int batch, float temperature, float topP, long seed)
    implements Serializable {
  /** The batch chosen per run from its memory plan. */
  public static final int AUTO = 0;

  public Decoding {
    if (batch < AUTO) {
      throw new IllegalArgumentException("decode-batch must be >= 1, got " + batch);
    }
    if (!(temperature >= 0) || Float.isInfinite(temperature)) {
      throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
    }
    if (!(topP > 0 && topP <= 1)) {
      throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
    }
  }

  public static Decoding greedy(int batch) {
    return new Decoding(batch, 0, 1, 1);
  }

  /** A fresh sampler for example {@code id}. */
  public Sampler samplerFor(String id) {
    return temperature == 0 ? Sampler.greedy() : Sampler.random(temperature, topP, seedFor(id));
  }

  /**
   * The first 8 bytes of SHA-256 over the run seed and the id; never 0 (xorshift's fixed point).
   */
  long seedFor(String id) {
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK has no SHA-256", e);
    }
    sha.update(ByteBuffer.allocate(Long.BYTES).putLong(seed).flip());
    sha.update(id.getBytes(StandardCharsets.UTF_8));
    long derived = ByteBuffer.wrap(sha.digest()).getLong();
    return derived == 0 ? 1 : derived;
  }
}
