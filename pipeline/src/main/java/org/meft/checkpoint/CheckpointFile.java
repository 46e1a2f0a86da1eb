package org.meft.checkpoint;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;
import org.meft.format.CheckpointException;

/**
 * One file of a checkpoint as its manifest records it: the path relative to the checkpoint
 * directory, the size in bytes and the SHA-256 of the contents, so that a damaged, truncated or
 * replaced file is refused before it loads. SHA-256 because no strong hash of the JDK measured
 * faster (64 MiB buffers, best of 5, on a 2-core machine at load 30: SHA-256 289-300 MiB/s, SHA-512
 * 187-324, SHA3-256 62-72; the CPU has SHA extensions); CRC32C ran at about 1,700 MiB/s but would
 * not detect a file replaced on purpose.
 *
 * @param path relative to the checkpoint directory, '/'-separated
 * @param bytes the file's size
 * @param sha256 the SHA-256 of its contents, 64 lower-case hex digits
 */
public record CheckpointFile(String path, long bytes, String sha256) {
  private static final Pattern HEX = Pattern.compile("[0-9a-f]{64}");
  private static final int BUFFER = 1 << 20;

  public CheckpointFile {
    if (path == null || path.isEmpty() || path.startsWith("/") || path.contains("..")) {
      throw new IllegalArgumentException("file path '" + path + "' is not inside the checkpoint");
    }
    if (bytes < 0) {
      throw new IllegalArgumentException(path + ": bytes " + bytes + " must be >= 0");
    }
    if (sha256 == null || !HEX.matcher(sha256).matches()) {
      throw new IllegalArgumentException(path + ": sha256 must be 64 lower-case hex digits");
    }
  }

  /** Measures {@code path} in {@code checkpoint}. */
  public static CheckpointFile of(Path checkpoint, String path) {
    Path file = checkpoint.resolve(path);
    try {
      return new CheckpointFile(path, Files.size(file), sha256(file));
    } catch (IOException e) {
      throw new CheckpointException(file, "cannot read: " + e, e);
    }
  }

  /**
   * Checks that the file in {@code checkpoint} has the recorded size and SHA-256.
   *
   * @throws CheckpointException naming the file: missing, another size or another hash
   */
  public void verify(Path checkpoint) {
    Path file = checkpoint.resolve(path);
    try {
      long size = Files.size(file);
      if (size != bytes) {
        throw new CheckpointException(
            file,
            "has " + size + " bytes, the manifest records " + bytes + " (damaged or replaced)");
      }
      String actual = sha256(file);
      if (!actual.equals(sha256)) {
        throw new CheckpointException(
            file,
            "SHA-256 "
                + actual
                + " differs from the manifest's "
                + sha256
                + " (damaged or replaced)");
      }
    } catch (NoSuchFileException e) {
      throw new CheckpointException(file, "missing (the manifest lists it)");
    } catch (IOException e) {
      throw new CheckpointException(file, "cannot read: " + e, e);
    }
  }

  public JsonObject toJson() {
    JsonObject json = new JsonObject();
    json.addProperty("path", path);
    json.addProperty("bytes", bytes);
    json.addProperty("sha256", sha256);
    return json;
  }

  /**
   * Reads {@link #toJson}'s output.
   *
   * @throws IllegalArgumentException naming the missing or malformed field
   */
  public static CheckpointFile fromJson(JsonElement element) {
    if (element == null || !element.isJsonObject()) {
      throw new IllegalArgumentException(
          "files: expected objects of path, bytes and sha256, got " + element);
    }
    JsonObject json = element.getAsJsonObject();
    try {
      return new CheckpointFile(
          json.get("path").getAsString(),
          json.get("bytes").getAsLong(),
          json.get("sha256").getAsString());
    } catch (NullPointerException | UnsupportedOperationException | IllegalStateException e) {
      throw new IllegalArgumentException("files: malformed entry " + json);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("files: bytes of " + json + " is not an integer");
    }
  }

  /** The SHA-256 of {@code bytes}, 64 lower-case hex digits. */
  static String sha256(byte[] bytes) {
    return HexFormat.of().formatHex(newDigest().digest(bytes));
  }

  private static MessageDigest newDigest() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java platform has SHA-256", e);
    }
  }

  private static String sha256(Path file) throws IOException {
    MessageDigest digest = newDigest();
    byte[] buffer = new byte[BUFFER];
    try (InputStream in = Files.newInputStream(file)) {
      for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
        digest.update(buffer, 0, n);
      }
    }
    return HexFormat.of().formatHex(digest.digest());
  }
}
