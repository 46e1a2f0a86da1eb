package org.meft.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.meft.MeftConfig;
import org.meft.load.RandomLlama;
import org.meft.model.Llama;

/**
 * The host store files of a checkpoint open outside Java: the JavaScript Arrow library (npm package
 * apache-arrow, pinned in src/test/js/package.json) reads the schema and the row counts that Java
 * wrote.
 */
class StoreFileFromJavaScriptTest {
  private static final Path SCRIPTS = Path.of("src/test/js");
  private static final Path WORK = Path.of("target/read-store");

  @TempDir Path dir;

  @Test
  void javaScriptArrowReadsTheStoreFiles() throws Exception {
    Assumptions.assumeTrue(
        runs("node", "--version") && runs("npm", "--version"),
        "node and npm are not on the PATH: install nodejs and npm (apt-get install nodejs npm)"
            + " to run this test");
    AdapterConfig adapter = ExactResumeTest.config("meft");
    MeftConfig meft = (MeftConfig) adapter;
    Path runDir = dir.resolve("run");
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(64L << 20)) {
      Llama model = RandomLlama.create(ExactResumeTest.SHAPE, 1, manager, DataType.FLOAT32);
      ExactResumeTest.checkpointAfterOneStep(runDir, adapter, model, manager, allocator);
    }
    Path checkpoint = AdapterCheckpoint.latest(runDir).orElseThrow();
    CheckpointManifest manifest = AdapterCheckpoint.readManifest(checkpoint);

    installScript();
    String output =
        run(WORK, 120, "node", "read-store.mjs", checkpoint.toAbsolutePath().toString());
    JsonArray files =
        JsonParser.parseString(output.lines().reduce((a, b) -> b).orElse(""))
            .getAsJsonObject()
            .getAsJsonArray("files");

    List<String> storeFiles = new ArrayList<>();
    for (String file : manifest.files().stream().map(CheckpointFile::path).toList()) {
      if (file.startsWith("store/")) {
        storeFiles.add(file);
      }
    }
    assertEquals(storeFiles.size(), files.size(), output);
    List<String> columns =
        List.of("row", "key", "value", "key_m", "key_v", "value_m", "value_v", "step");
    for (int i = 0; i < files.size(); i++) {
      JsonObject file = files.get(i).getAsJsonObject();
      assertEquals(storeFiles.get(i), file.get("file").getAsString());
      assertEquals(meft.adapterSize(), file.get("rows").getAsInt(), output);
      List<String> names = new ArrayList<>();
      for (JsonElement element : file.getAsJsonArray("columns")) {
        JsonObject column = element.getAsJsonObject();
        String name = column.get("name").getAsString();
        names.add(name);
        assertEquals(false, column.get("nullable").getAsBoolean(), name);
        if (name.equals("row") || name.equals("step")) {
          assertEquals("Int", column.get("type").getAsString(), name);
          assertEquals(32, column.get("bitWidth").getAsInt(), name);
          assertTrue(column.get("signed").getAsBoolean(), name);
        } else {
          assertEquals("FixedSizeList", column.get("type").getAsString(), name);
          assertEquals(ExactResumeTest.SHAPE.dim(), column.get("listSize").getAsInt(), name);
          assertEquals("Float", column.get("childType").getAsString(), name);
          assertEquals(32, column.get("childBits").getAsInt(), name);
        }
      }
      assertEquals(columns, names);
      JsonObject metadata = file.getAsJsonObject("metadata");
      assertEquals(Integer.toString(meft.adapterSize()), metadata.get("meft.rows").getAsString());
      assertEquals(
          Integer.toString(manifest.layers().get(i)), metadata.get("meft.layer").getAsString());
    }
  }

  /** Copies the script to target/ and installs its pinned dependencies once (npm ci). */
  private static void installScript() throws IOException, InterruptedException {
    Files.createDirectories(WORK);
    for (String name : List.of("package.json", "package-lock.json", "read-store.mjs")) {
      Files.copy(SCRIPTS.resolve(name), WORK.resolve(name), StandardCopyOption.REPLACE_EXISTING);
    }
    if (!Files.isDirectory(WORK.resolve("node_modules/apache-arrow"))) {
      run(WORK, 300, "npm", "ci", "--no-audit", "--no-fund");
    }
  }

  private static boolean runs(String... command) {
    try {
      run(Path.of("."), 30, command);
      return true;
    } catch (IOException | InterruptedException | AssertionError e) {
      return false;
    }
  }

  /** Runs a command, returns its output, fails the test when it fails or times out. */
  private static String run(Path workDir, int seconds, String... command)
      throws IOException, InterruptedException {
    // Output goes to a file, so that a hung command cannot block the test past its timeout.
    Path log = Files.createTempFile("meft-command", ".log");
    try {
      Process process =
          new ProcessBuilder(command)
              .directory(workDir.toFile())
              .redirectErrorStream(true)
              .redirectOutput(log.toFile())
              .start();
      process.getOutputStream().close();
      if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        throw new AssertionError(String.join(" ", command) + " timed out after " + seconds + " s");
      }
      String text = Files.readString(log, StandardCharsets.UTF_8);
      if (process.exitValue() != 0) {
        throw new AssertionError(
            String.join(" ", command) + " exited with " + process.exitValue() + ":\n" + text);
      }
      return text;
    } finally {
      Files.deleteIfExists(log);
    }
  }
}
