package org.meft.run;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.checkpoint.AdapterCheckpoint;
import org.meft.checkpoint.CheckpointFile;
import org.meft.checkpoint.CheckpointManifest;
import org.meft.checkpoint.RunLock;
import org.meft.format.CheckpointException;
import org.meft.load.LanguageModel;
import org.meft.load.RandomLlama;
import org.meft.model.LlamaConfig;
import org.meft.train.RunSpec;
import org.meft.train.TrainResult;

/**
 * A run killed after a checkpoint and started again resumes there and ends exactly where the
 * uninterrupted run ends: the same losses and byte-identical checkpoint files.
 */
class TrainingRunTest {
  @TempDir static Path dir;
  static LanguageModel model;
  static Path data;

  @BeforeAll
  static void writeModelAndData() throws Exception {
    Path folder = dir.resolve("tiny");
    RandomLlama.write(folder, LlamaConfig.of(32, 64, 2, 4, 2, 400, 64), 7, DataType.FLOAT32, 0);
    model = LanguageModel.load(folder, null);
    data = dir.resolve("pairs.jsonl");
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 7; i++) {
      lines.add(
          "{\"prompt\": \"Question: what is " + i + " + 1?\", \"target\": \" " + (i + 1) + "\"}");
    }
    Files.write(data, lines);
  }

  @AfterAll
  static void closeModel() {
    model.close();
  }

  static RunSpec spec(String... extra) {
    Map<String, String> settings = new HashMap<>();
    settings.put("model", dir.resolve("tiny").toString());
    settings.put("data", data.toString());
    settings.put("method", "meft");
    settings.put("adapter-size", "64");
    settings.put("top-k", "8");
    settings.put("probes", "2");
    settings.put("max-rows", "32");
    settings.put("steps", "6");
    settings.put("batch-size", "3");
    settings.put("lr", "1e-2");
    settings.put("checkpoint-every", "2");
    settings.put("host-budget-mb", "64");
    for (int i = 0; i < extra.length; i += 2) {
      settings.put(extra[i], extra[i + 1]);
    }
    return RunSpec.fromSettings(settings);
  }

  private static final class Killed extends RuntimeException {
    private static final long serialVersionUID = 1L;
  }

  @Test
  void killedRunResumesFromItsLastCheckpointAndEndsIdentically() throws Exception {
    Path straight = dir.resolve("straight");
    TrainResult expected = TrainingRun.run(model, spec(), straight, null);
    assertEquals(
        List.of(straight.resolve("checkpoint-000004"), straight.resolve("checkpoint-000006")),
        AdapterCheckpoint.complete(straight),
        "the last two checkpoints are kept");

    Path killed = dir.resolve("killed");
    assertThrows(
        Killed.class,
        () ->
            TrainingRun.run(
                model,
                spec(),
                killed,
                null,
                (snapshot, soFar) -> {
                  if (snapshot.state().step() == 5) {
                    throw new Killed();
                  }
                }));
    assertEquals(
        List.of(killed.resolve("checkpoint-000002"), killed.resolve("checkpoint-000004")),
        AdapterCheckpoint.complete(killed));
    // What a writer killed mid-checkpoint leaves behind.
    Path partial = Files.createDirectories(killed.resolve(".tmp-checkpoint-000006-123/store"));
    Files.writeString(partial.resolve("layer-00.arrow"), "half a file");

    ByteArrayOutputStream log = new ByteArrayOutputStream();
    TrainResult resumed =
        TrainingRun.run(model, spec(), killed, new PrintStream(log, true, StandardCharsets.UTF_8));
    String progress = log.toString(StandardCharsets.UTF_8);
    assertTrue(
        progress.contains("resumed from " + killed.resolve("checkpoint-000004") + " at step 4"),
        progress);
    assertFalse(Files.exists(partial.getParent()), "the incomplete checkpoint is removed");

    assertEquals(expected.losses(), resumed.losses());
    Path a = straight.resolve("checkpoint-000006");
    Path b = killed.resolve("checkpoint-000006");
    CheckpointManifest manifest = AdapterCheckpoint.readManifest(a);
    assertEquals(6, manifest.step());
    assertEquals(spec(), manifest.run());
    for (String file : manifest.files().stream().map(CheckpointFile::path).toList()) {
      assertArrayEquals(
          Files.readAllBytes(a.resolve(file)), Files.readAllBytes(b.resolve(file)), file);
    }
    assertEquals(
        List.of(
            "adapter.safetensors",
            "optimizer.safetensors",
            "store/layer-00.arrow",
            "store/layer-01.arrow"),
        manifest.files().stream().map(CheckpointFile::path).toList());

    // The resumed run's meters cover the whole run (carried in the checkpoint's trainer state).
    assertEquals(meters(expected), meters(resumed));

    // Finished: running it again trains nothing, says so, and reports the run's own figures.
    ByteArrayOutputStream again = new ByteArrayOutputStream();
    TrainResult rerun =
        TrainingRun.run(
            model, spec(), straight, new PrintStream(again, true, StandardCharsets.UTF_8));
    assertTrue(
        again
            .toString(StandardCharsets.UTF_8)
            .contains(
                "run already finished: "
                    + straight.resolve("checkpoint-000006")
                    + " holds all 6 steps; nothing to train"),
        again.toString(StandardCharsets.UTF_8));
    assertEquals(expected.losses(), rerun.losses());
    assertEquals(meters(expected), meters(rerun));
    assertTrue(rerun.tokensPerSecond() > 0, "the run's speed, not 0: " + rerun.tokensPerSecond());
  }

  /** A run's metrics that are not speeds. */
  private static List<Number> meters(TrainResult result) {
    return List.of(
        result.steps(),
        result.deviceAdapterBytesPeak(),
        result.hostStoreBytes(),
        result.hostToDeviceBytesPerStep(),
        result.deviceToHostBytesPerStep(),
        result.meanRowsPerLayer());
  }

  @Test
  void aRunDirectoryRefusesAnotherRunsSettings() {
    Path out = dir.resolve("other");
    TrainingRun.run(model, spec("steps", "2"), out, null);
    CheckpointException e =
        assertThrows(
            CheckpointException.class,
            () -> TrainingRun.run(model, spec("steps", "2", "lr", "0.02"), out, null));
    assertTrue(e.getMessage().contains("lr 0.01 -> 0.02"), e.getMessage());
  }

  @Test
  void aRunDirectoryInUseRefusesASecondTrainer() {
    Path out = dir.resolve("locked");
    try (RunLock held = RunLock.acquire(out)) {
      CheckpointException e =
          assertThrows(
              CheckpointException.class,
              () -> TrainingRun.run(model, spec("steps", "2"), out, null));
      assertTrue(e.getMessage().contains("another process is training"), e.getMessage());
    }
    assertEquals(2, TrainingRun.run(model, spec("steps", "2"), out, null).steps());
    assertTrue(AdapterCheckpoint.latest(out).isPresent(), "the run went ahead once unlocked");
  }
}
