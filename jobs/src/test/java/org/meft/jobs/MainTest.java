package org.meft.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command line as users meet it: exit codes, usage, and one clear error line (never a stack
 * trace, never a native crash) for each kind of broken model.
 */
class MainTest {
  @TempDir static Path dir;
  static Path model;

  record Result(int code, String out, String err) {}

  static Result meft(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code =
        Main.run(
            args,
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Result(
        code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  @BeforeAll
  static void writeModel() {
    model = tinyModel(dir.resolve("tiny"));
  }

  /** Writes a small random model (2 layers, D = 32, vocabulary 400) through init-model. */
  static Path tinyModel(Path output) {
    return tinyModelWithSeed(output, 42);
  }

  /** {@link #tinyModel} with other random weights. */
  static Path tinyModelWithSeed(Path output, long seed) {
    Result result =
        meft(
            "init-model",
            "--seed",
            Long.toString(seed),
            "--output",
            output.toString(),
            "--dim",
            "32",
            "--hidden-dim",
            "64",
            "--layers",
            "2",
            "--heads",
            "4",
            "--kv-heads",
            "2",
            "--vocab",
            "400",
            "--seq-len",
            "64");
    assertEquals(0, result.code(), result.err());
    return output;
  }

  @Test
  void generatesFromARandomModel() {
    Result result =
        meft(
            "generate",
            "--model",
            model.toString(),
            "--prompt",
            "Once upon a time",
            "--max-new-tokens",
            "8");
    assertEquals(0, result.code(), result.err());
    assertTrue(result.out().startsWith("Once upon a time"), result.out());
    assertTrue(result.out().endsWith("\n"));
    assertEquals(
        result.out(),
        meft(
                "generate",
                "--model",
                model.toString(),
                "--prompt",
                "Once upon a time",
                "--max-new-tokens",
                "8")
            .out(),
        "greedy is deterministic");
  }

  @Test
  void seededSamplingIsReproducible() {
    String[] args = {
      "generate",
      "--model",
      model.toString(),
      "--prompt",
      "A cat",
      "--max-new-tokens",
      "10",
      "--temperature",
      "1.5",
      "--seed",
      "9"
    };
    Result first = meft(args);
    assertEquals(0, first.code(), first.err());
    assertEquals(first.out(), meft(args).out());
  }

  @Test
  void badCommandLinesExitWithTwoAndUsage() {
    Result unknown = meft("frobnicate");
    assertEquals(2, unknown.code());
    assertTrue(
        unknown.err().contains("unknown command 'frobnicate'")
            && unknown.err().contains("generate"));

    Result badFlag = meft("generate", "--model", model.toString(), "--bogus", "1");
    assertEquals(2, badFlag.code());
    assertTrue(badFlag.err().contains("unknown flag --bogus") && badFlag.err().contains("usage:"));

    assertEquals(
        2,
        meft("generate", "--model", model.toString(), "--prompt", "x").code(),
        "missing --max-new-tokens");
    assertEquals(
        2,
        meft("generate", "--model", model.toString(), "--prompt", "x", "--max-new-tokens", "many")
            .code());
    assertEquals(
        2,
        meft(
                "generate",
                "--model",
                model.toString(),
                "--prompt",
                "x",
                "--max-new-tokens",
                "3",
                "--temperature",
                "1",
                "--top-p",
                "2")
            .code());
    assertEquals(2, meft("generate", "--prompt").code(), "flag without value");
    assertEquals(2, meft().code());
    assertEquals(0, meft("--help").code());
    assertEquals(0, meft("generate", "--help").code());
  }

  @Test
  void truncatedSafetensorsIsOneClearError() throws Exception {
    Path broken = copyModel("truncated");
    Path weights = broken.resolve("model.safetensors");
    byte[] bytes = Files.readAllBytes(weights);
    Files.write(weights, Arrays.copyOf(bytes, bytes.length - 1000));
    assertOneErrorLine(broken, "model.safetensors");
  }

  @Test
  void headerLengthPastTheEndIsOneClearError() throws Exception {
    Path broken = copyModel("header-length");
    Path weights = broken.resolve("model.safetensors");
    byte[] bytes = Files.readAllBytes(weights);
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, bytes.length * 4L);
    Files.write(weights, bytes);
    assertOneErrorLine(broken, "model.safetensors");
  }

  @Test
  void tensorOffsetPastTheEndIsOneClearError() throws Exception {
    Path broken = copyModel("offset");
    Path weights = broken.resolve("model.safetensors");
    byte[] bytes = Files.readAllBytes(weights);
    long headerLength = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    String header = new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8);
    // Move the final norm's data far past the end, keeping the header the same length.
    String marker = "\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[32],\"data_offsets\":[";
    int at = header.indexOf(marker);
    assertTrue(at >= 0, header);
    int end = header.indexOf(']', at + marker.length());
    String offsets = header.substring(at + marker.length(), end);
    String moved =
        "9"
            + offsets.substring(0, offsets.indexOf(',')).substring(1)
            + ","
            + "9"
            + offsets.substring(offsets.indexOf(',') + 2);
    String patched = header.substring(0, at + marker.length()) + moved + header.substring(end);
    assertEquals(header.length(), patched.length());
    System.arraycopy(patched.getBytes(StandardCharsets.UTF_8), 0, bytes, 8, (int) headerLength);
    Files.write(weights, bytes);
    assertOneErrorLine(broken, "model.norm.weight");
  }

  @Test
  void shapesThatDisagreeWithConfigAreOneClearError() throws Exception {
    Path broken = copyModel("shapes");
    Path config = broken.resolve("config.json");
    Files.writeString(
        config,
        Files.readString(config).replace("\"intermediate_size\": 64", "\"intermediate_size\": 96"));
    assertOneErrorLine(broken, "mlp.gate_proj.weight");
  }

  @Test
  void pickledCheckpointsAreRefused() throws Exception {
    Path pickle = dir.resolve("pytorch_model.bin");
    Files.write(
        pickle, new byte[] {(byte) 0x80, 0x02, 'c', '_', '_', 'b', 'u', 'i', 'l', 't', 'i', 'n'});
    Result result = assertOneErrorLine(pickle, "convert it to safetensors");

    Path folder = copyModel("pickled-folder");
    Files.delete(folder.resolve("model.safetensors"));
    Files.write(folder.resolve("pytorch_model.bin"), new byte[] {'P', 'K', 3, 4});
    assertOneErrorLine(folder, "safetensors");
    assertFalse(result.err().contains("Exception"));
  }

  @Test
  void brokenLlama2cFilesAreOneClearError() throws Exception {
    Path bin = dir.resolve("tiny.bin");
    ByteBuffer header = ByteBuffer.allocate(7 * 4 + 64).order(ByteOrder.LITTLE_ENDIAN);
    header.putInt(64).putInt(172).putInt(5).putInt(8).putInt(4).putInt(512).putInt(512);
    Files.write(bin, header.array());
    Result result =
        meft(
            "generate",
            "--model",
            bin.toString(),
            "--tokenizer",
            model.resolve("tokenizer.json").toString(),
            "--prompt",
            "x",
            "--max-new-tokens",
            "2");
    assertOneLine(result, "does not match its header");
  }

  @Test
  void missingModelIsOneClearError() {
    assertOneErrorLine(dir.resolve("nowhere"), "model not found");
  }

  private static Result assertOneErrorLine(Path modelPath, String expected) {
    Result result =
        meft(
            "generate",
            "--model",
            modelPath.toString(),
            "--tokenizer",
            model.resolve("tokenizer.json").toString(),
            "--prompt",
            "x",
            "--max-new-tokens",
            "2");
    return assertOneLine(result, expected);
  }

  private static Result assertOneLine(Result result, String expected) {
    assertEquals(1, result.code(), result.err());
    assertEquals("", result.out());
    String[] lines = result.err().strip().split("\n");
    assertEquals(1, lines.length, "one error line expected, got:\n" + result.err());
    assertTrue(lines[0].startsWith("meft generate: error: "), lines[0]);
    assertTrue(lines[0].contains(expected), lines[0]);
    assertFalse(lines[0].contains("\tat "), lines[0]);
    return result;
  }

  private static Path copyModel(String name) throws Exception {
    Path copy = dir.resolve(name);
    Files.createDirectories(copy);
    try (var files = Files.list(model)) {
      for (Path file : files.toList()) {
        Files.copy(file, copy.resolve(file.getFileName()));
      }
    }
    return copy;
  }
}
