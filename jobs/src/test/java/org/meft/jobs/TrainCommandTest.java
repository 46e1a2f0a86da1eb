package org.meft.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.checkpoint.RunLock;

/** {@code bin/meft train}: every method runs; bad configurations stop before training. */
class TrainCommandTest {
  @TempDir static Path dir;
  static Path model;
  static Path data;

  @BeforeAll
  static void writeModelAndData() throws Exception {
    model = MainTest.tinyModel(dir.resolve("tiny"));
    data = dir.resolve("pairs.jsonl");
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      lines.add(
          "{\"prompt\": \"Question: what is " + i + " + 1?\", \"target\": \" " + (i + 1) + "\"}");
    }
    Files.write(data, lines);
  }

  private static MainTest.Result train(String... extra) {
    List<String> args =
        new ArrayList<>(
            List.of(
                "train",
                "--model",
                model.toString(),
                "--data",
                data.toString(),
                "--steps",
                "3",
                "--batch-size",
                "2",
                "--lr",
                "1e-2",
                "--json"));
    args.addAll(List.of(extra));
    if (!args.contains("--adapter-size") && (args.contains("meft") || args.contains("parallel"))) {
      args.addAll(List.of("--adapter-size", "64"));
    }
    return MainTest.meft(args.toArray(String[]::new));
  }

  @Test
  void everyMethodTrainsAndReportsItsMeters() {
    for (String method : List.of("meft", "parallel", "lora", "full")) {
      MainTest.Result result =
          method.equals("meft")
              ? train("--method", method, "--top-k", "8", "--probes", "2", "--max-rows", "32")
              : train("--method", method);
      assertEquals(0, result.code(), method + ": " + result.err());
      String[] lines = result.out().strip().split("\n");
      JsonObject json = JsonParser.parseString(lines[lines.length - 1]).getAsJsonObject();
      assertEquals(method, json.get("method").getAsString());
      assertEquals(3, json.get("steps").getAsInt());
      assertTrue(json.get("trainable_params").getAsLong() > 0, method);
      assertTrue(json.get("device_adapter_bytes_peak").getAsLong() > 0, method);
      assertTrue(Float.isFinite(json.get("initial_loss").getAsFloat()), method);
      assertTrue(json.has("phase_ms") && json.has("h2d_bytes_per_step"), method);
      if (method.equals("meft")) {
        assertTrue(json.get("host_store_bytes").getAsLong() > 0);
        // train-rows all: every choice reaches the device, in groups of at most max-rows rows.
        assertEquals(1.0, json.get("kept_choice_fraction").getAsDouble());
      }
    }
  }

  /** A composition from flags, the second method's clashing settings after its name. */
  @Test
  void aComposedMethodTrainsAndItsSettingsAreInTheHelp() {
    MainTest.Result result =
        train(
            "--method",
            "meft+parallel",
            "--adapter-size",
            "64",
            "--top-k",
            "8",
            "--probes",
            "2",
            "--max-rows",
            "32",
            "--parallel.adapter-size",
            "8");
    assertEquals(0, result.code(), result.err());
    String[] lines = result.out().strip().split("\n");
    JsonObject json = JsonParser.parseString(lines[lines.length - 1]).getAsJsonObject();
    assertEquals("meft+parallel", json.get("method").getAsString());
    assertTrue(json.get("host_store_bytes").getAsLong() > 0, json.toString());
    String help = MainTest.meft("train", "--help").out();
    assertTrue(help.contains("--method A+B"), help);
    assertTrue(help.contains("--parallel.adapter-size 4096"), help);
  }

  @Test
  void badConfigurationsAreRefusedBeforeTrainingNamingTheField() throws Exception {
    assertRefused(
        train("--method", "meft", "--top-k", "65", "--max-rows", "64"),
        "top-k must be in [1, adapter-size=64], got 65");
    assertRefused(
        train("--method", "meft", "--top-k", "8", "--experts", "4", "--probes", "5"), "probes");
    assertRefused(train("--method", "meft", "--layers", "0,7"), "index 7");
    assertRefused(
        train(
            "--method",
            "meft",
            "--top-k",
            "8",
            "--adapter-size",
            "60000",
            "--max-rows",
            "64",
            "--host-budget-mb",
            "1"),
        "budget");
    assertRefused(train("--method", "sparse"), "method: must be meft");

    Path bad = dir.resolve("bad.jsonl");
    Files.write(
        bad, List.of("{\"prompt\": \"a\", \"target\": \"b\"}", "{\"prompt\": \"no target\"}"));
    MainTest.Result result =
        MainTest.meft(
            "train",
            "--model",
            model.toString(),
            "--data",
            bad.toString(),
            "--method",
            "lora",
            "--steps",
            "1",
            "--batch-size",
            "1",
            "--lr",
            "1e-3");
    assertRefused(result, "bad.jsonl:2");
    assertTrue(result.err().contains("'target'"), result.err());
  }

  @Test
  void outputWritesACheckpointThatGenerateLoads() throws Exception {
    Path out = dir.resolve("run");
    String[] trainArgs = {
      "train",
      "--model",
      model.toString(),
      "--data",
      data.toString(),
      "--batch-size",
      "2",
      "--method",
      "meft",
      "--adapter-size",
      "64",
      "--top-k",
      "8",
      "--probes",
      "2",
      "--max-rows",
      "32",
      "--steps",
      "30",
      "--lr",
      "5e-2",
      "--output",
      out.toString(),
      "--checkpoint-every",
      "10"
    };
    MainTest.Result trained = MainTest.meft(trainArgs);
    assertEquals(0, trained.code(), trained.err());
    Path checkpoint = out.resolve("checkpoint-000030");
    for (String file :
        List.of(
            "manifest.json",
            "adapter.safetensors",
            "optimizer.safetensors",
            "store/layer-00.arrow",
            "store/layer-01.arrow")) {
      assertTrue(Files.isRegularFile(checkpoint.resolve(file)), file);
    }
    try (var entries = Files.list(out)) {
      assertEquals(
          List.of(out.resolve("checkpoint-000020"), checkpoint),
          entries.filter(p -> !p.getFileName().toString().equals(RunLock.FILE)).sorted().toList(),
          "the latest two checkpoints are kept (beside the run's lock file)");
    }
    JsonObject manifest =
        JsonParser.parseString(Files.readString(checkpoint.resolve("manifest.json")))
            .getAsJsonObject();
    assertEquals(30, manifest.get("step").getAsInt());
    assertEquals("meft", manifest.getAsJsonObject("run").get("method").getAsString());
    assertTrue(
        manifest
            .getAsJsonObject("base_model")
            .get("fingerprint")
            .getAsString()
            .startsWith("sha256:"));

    // Progress goes to the process's stderr.
    PrintStream stderr = System.err;
    ByteArrayOutputStream progress = new ByteArrayOutputStream();
    MainTest.Result again;
    try {
      System.setErr(new PrintStream(progress, true, StandardCharsets.UTF_8));
      again = MainTest.meft(trainArgs);
    } finally {
      System.setErr(stderr);
    }
    assertEquals(0, again.code(), again.err());
    String log = progress.toString(StandardCharsets.UTF_8);
    // The run is finished: it says so and reports the run's speed, not the 0 of no step.
    assertTrue(
        log.contains(
            "meft train: run already finished: " + checkpoint + " holds all 30 steps; nothing"),
        log);
    assertTrue(again.out().contains("over 30 steps"), again.out());
    assertFalse(again.out().contains(" 0 tokens/s"), again.out());

    String[] prompt = {"--prompt", "Question: what is 3 + 1?", "--max-new-tokens", "6"};
    MainTest.Result base = generate(model, null, prompt);
    MainTest.Result adapted = generate(model, out, prompt);
    assertEquals(0, adapted.code(), adapted.err());
    assertTrue(adapted.out().startsWith("Question: what is 3 + 1?"), adapted.out());
    assertTrue(!adapted.out().equals(base.out()), "the adapter changes nothing: " + base.out());
    assertEquals(adapted.out(), generate(model, checkpoint, prompt).out());

    Path other = MainTest.tinyModelWithSeed(dir.resolve("other"), 8);
    MainTest.Result wrongBase = generate(other, out, prompt);
    assertEquals(1, wrongBase.code(), wrongBase.err());
    assertTrue(wrongBase.err().startsWith("meft generate: error: "), wrongBase.err());
    assertTrue(wrongBase.err().contains("trained on base model sha256:"), wrongBase.err());

    MainTest.Result noCheckpoint = generate(model, dir, prompt);
    assertEquals(1, noCheckpoint.code());
    assertTrue(noCheckpoint.err().contains("manifest.json"), noCheckpoint.err());

    // Damaged checkpoints: generate refuses, train refuses to start again unless --restart.
    for (Path damaged : List.of(checkpoint, out.resolve("checkpoint-000020"))) {
      Path file = damaged.resolve("adapter.safetensors");
      byte[] bytes = Files.readAllBytes(file);
      bytes[bytes.length - 1] ^= 1;
      Files.write(file, bytes);
    }
    MainTest.Result refusedAdapter = generate(model, out, prompt);
    assertEquals(1, refusedAdapter.code(), refusedAdapter.err());
    assertEquals(
        "meft generate: error: " + checkpoint.resolve("adapter.safetensors") + ": SHA-256 " + "",
        refusedAdapter.err().substring(0, refusedAdapter.err().indexOf("SHA-256 ") + 8));
    MainTest.Result refusedResume = MainTest.meft(trainArgs);
    assertEquals(1, refusedResume.code(), refusedResume.err());
    assertEquals(1, refusedResume.err().strip().lines().count(), refusedResume.err());
    assertTrue(refusedResume.err().contains("none of its 2 checkpoints verifies"));
    assertTrue(refusedResume.err().contains("--restart"), refusedResume.err());
    List<String> restartArgs = new ArrayList<>(List.of(trainArgs));
    restartArgs.add("--restart");
    MainTest.Result restarted = MainTest.meft(restartArgs.toArray(String[]::new));
    assertEquals(0, restarted.code(), restarted.err());
    assertTrue(Files.isDirectory(out.resolve("refused-checkpoint-000030")));
    assertTrue(MainTest.meft("train", "--help").out().contains("--restart"));

    MainTest.Result everyWithoutOutput = train("--method", "lora", "--checkpoint-every", "2");
    assertEquals(2, everyWithoutOutput.code());
    assertTrue(everyWithoutOutput.err().contains("--checkpoint-every needs --output"));
  }

  private static MainTest.Result generate(Path base, Path adapter, String... args) {
    List<String> all = new ArrayList<>(List.of("generate", "--model", base.toString()));
    if (adapter != null) {
      all.addAll(List.of("--adapter", adapter.toString()));
    }
    all.addAll(List.of(args));
    return MainTest.meft(all.toArray(String[]::new));
  }

  private static void assertRefused(MainTest.Result result, String expected) {
    assertTrue(result.code() != 0, result.out());
    String[] lines = result.err().strip().split("\n");
    assertTrue(lines[0].contains(expected), result.err());
    assertTrue(!result.err().contains("step 1/"), "training must not start: " + result.err());
  }
}
