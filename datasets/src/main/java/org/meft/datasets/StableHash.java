package org.meft.datasets;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Hashes that never change between runs, JVMs or machines (SHA-256 of the UTF-8 bytes), used for
 * record ids, split assignment and sharding.
 */
public final class StableHash {
  private StableHash() {}

  /** The first 8 bytes of SHA-256 as an unsigned number scaled to [0, 1). */
  public static double unit(String key) {
    return (bits(key) >>> 11) * 0x1.0p-53;
  }

  /** The first 8 bytes of SHA-256, unsigned, modulo {@code n}: a bucket in [0, n). */
  public static int bucket(String key, int n) {
    return (int) Long.remainderUnsigned(bits(key), n);
  }

  /** The first 16 hex digits of SHA-256: an id for records whose source has none. */
  public static String hex16(String key) {
    return HexFormat.of().formatHex(sha256(key.getBytes(StandardCharsets.UTF_8)), 0, 8);
  }

  /** SHA-256 of {@code bytes}. */
  public static byte[] sha256(byte[] bytes) {
    return digest().digest(bytes);
  }

  /** A fresh SHA-256 digest. */
  public static MessageDigest digest() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java platform has SHA-256", e);
    }
  }

  private static long bits(String key) {
    byte[] hash = sha256(key.getBytes(StandardCharsets.UTF_8));
    long bits = 0;
    for (int i = 0; i < 8; i++) {
      bits = (bits << 8) | (hash[i] & 0xff);
    }
    return bits;
  }
}
