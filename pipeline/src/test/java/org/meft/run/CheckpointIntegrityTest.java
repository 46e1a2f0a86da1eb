package org.meft.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.meft.format.CheckpointException;
import org.meft.load.LanguageModel;
import org.meft.load.RandomLlama;
import org.meft.model.LlamaConfig;
import org.meft.train.RunSpec;
import org.meft.train.TrainResult;

/**
 * Corrupted checkpoints, each made by the test from a run stopped after step 5 of 6 (checkpoints at
 * steps 2 and 4): a damaged newest checkpoint is refused with one line naming its file and the
 * reason, and the run resumes from the one before and ends with the uninterrupted run's losses;
 * when no checkpoint verifies, the run refuses to start again from step 0 unless told to restart.
 */
class CheckpointIntegrityTest {
  private static final String NEWEST = "checkpoint-000004";
  private static final String OLDER = "checkpoint-000002";

  @TempDir static Path dir;
  static LanguageModel model;
  static Path data;
  static List<Float> expected;
  static Path stopped;

  /** A corruption of the run directory {@code run}. */
  @FunctionalInterface
  interface Damage {
    void apply(Path run) throws IOException;
  }

  /**
   * One corrupted checkpoint: what is done to the run directory, and what the refusal names.
   *
   * @param file the refused file, relative to the run directory
   * @param reason words of the reason
   */
  record Case(String name, Damage damage, String file, String reason) {
    @Override
    public String toString() {
      return name;
    }
  }

  @BeforeAll
  static void trainAndStop() throws Exception {
    Path folder = dir.resolve("tiny");
    RandomLlama.write(folder, LlamaConfig.of(32, 64, 2, 4, 2, 400, 64), 7, DataType.FLOAT32, 0);
    model = LanguageModel.load(folder, null);
    data = dir.resolve("pairs.jsonl");
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 7; i++) {
      lines.add("{\"prompt\": \"What is " + i + " + 2?\", \"target\": \" " + (i + 2) + "\"}");
    }
    Files.write(data, lines);
    expected = TrainingRun.run(model, spec(), dir.resolve("straight"), null).losses();
    stopped = dir.resolve("stopped");
    try {
      TrainingRun.run(
          model,
          spec(),
          stopped,
          null,
          (snapshot, soFar) -> {
            if (snapshot.state().step() == 5) {
              throw new IllegalStateException("stop");
            }
          });
    } catch (IllegalStateException e) {
      // stopped after step 5, as a killed process would
    }
  }

  @AfterAll
  static void closeModel() {
    model.close();
  }

  static RunSpec spec() {
    return RunSpec.fromSettings(
        Map.ofEntries(
            Map.entry("model", dir.resolve("tiny").toString()),
            Map.entry("data", data.toString()),
            Map.entry("method", "meft"),
            Map.entry("adapter-size", "64"),
            Map.entry("top-k", "8"),
            Map.entry("probes", "2"),
            Map.entry("max-rows", "32"),
            Map.entry("steps", "6"),
            Map.entry("batch-size", "3"),
            Map.entry("lr", "1e-2"),
            Map.entry("checkpoint-every", "2"),
            Map.entry("host-budget-mb", "64")));
  }

  static List<Case> newestDamaged() {
    String adapter = NEWEST + "/adapter.safetensors";
    String optimizer = NEWEST + "/optimizer.safetensors";
    String layer0 = NEWEST + "/store/layer-00.arrow";
    String layer1 = NEWEST + "/store/layer-01.arrow";
    String manifest = NEWEST + "/manifest.json";
    return List.of(
        new Case("flipped bytes in the adapter", r -> flip(r.resolve(adapter)), adapter, "SHA-256"),
        new Case(
            "flipped bytes in the optimizer",
            r -> flip(r.resolve(optimizer)),
            optimizer,
            "SHA-256"),
        new Case("flipped bytes in a store layer", r -> flip(r.resolve(layer1)), layer1, "SHA-256"),
        new Case(
            "store files swapped",
            r -> swap(r.resolve(layer0), r.resolve(layer1)),
            layer0,
            "SHA-256"),
        new Case(
            "store files swapped, hashes rewritten to match",
            r -> {
              swap(r.resolve(layer0), r.resolve(layer1));
              rehash(r.resolve(NEWEST));
            },
            layer0,
            "layer 1"),
        new Case(
            "adapter copied from another step",
            r -> copy(r.resolve(OLDER + "/adapter.safetensors"), r.resolve(adapter)),
            adapter,
            "SHA-256"),
        new Case(
            "store file copied from another step, hashes rewritten to match",
            r -> {
              copy(r.resolve(OLDER + "/store/layer-01.arrow"), r.resolve(layer1));
              rehash(r.resolve(NEWEST));
            },
            layer1,
            "step 2"),
        new Case(
            "manifest edited to another step",
            r -> editManifest(r.resolve(manifest), m -> m.addProperty("step", 2)),
            manifest,
            "step 2"),
        new Case(
            "optimizer_step -5",
            r -> editManifest(r.resolve(manifest), m -> state(m).addProperty("optimizer_step", -5)),
            manifest,
            "optimizer_step -5"),
        new Case(
            "examples_drawn 1e13",
            r ->
                editManifest(
                    r.resolve(manifest),
                    m -> state(m).addProperty("examples_drawn", 10_000_000_000_000L)),
            manifest,
            "examples_drawn 10000000000000"),
        new Case(
            "a loss edited in the manifest, its hash not",
            r -> editInitialLoss(r.resolve(manifest)),
            manifest,
            "SHA-256"),
        new Case(
            "manifest.sha256 deleted",
            r -> Files.delete(r.resolve(NEWEST + "/manifest.sha256")),
            NEWEST + "/manifest.sha256",
            "missing"),
        new Case(
            "manifest deleted", r -> Files.delete(r.resolve(manifest)), manifest, "no manifest"));
  }

  /**
   * A damaged newest checkpoint is refused, naming the file and the reason, and the run resumes
   * from the previous one and ends with the uninterrupted run's losses.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("newestDamaged")
  void aDamagedCheckpointIsRefusedAndTheRunFallsBackToThePreviousOne(Case c) throws Exception {
    Path run = copyOfStopped(c.name());
    c.damage().apply(run);
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    TrainResult resumed =
        assertTimeoutPreemptively(
            Duration.ofSeconds(60),
            () ->
                TrainingRun.run(
                    model, spec(), run, new PrintStream(log, true, StandardCharsets.UTF_8)));
    String progress = log.toString(StandardCharsets.UTF_8);
    String refusal =
        progress
            .lines()
            .filter(l -> l.contains(run.resolve(c.file()).toString()))
            .findFirst()
            .orElse("");
    assertTrue(refusal.contains(c.reason()), "no line names the file and the reason:\n" + progress);
    assertTrue(
        progress.contains("resumed from " + run.resolve(OLDER) + " at step 2"),
        "does not fall back to the previous checkpoint:\n" + progress);
    assertEquals(expected, resumed.losses());
  }

  /**
   * A checkpoint of an earlier build (format_version 2, no manifest.sha256) still loads: the run
   * resumes from it and ends with the uninterrupted run's losses.
   */
  @Test
  void anEarlierBuildsCheckpointWithoutAManifestHashStillLoads() throws Exception {
    Path run = copyOfStopped("format-2");
    Path manifest = run.resolve(NEWEST + "/manifest.json");
    String text = Files.readString(manifest);
    assertTrue(text.contains("\"format_version\": 3"), text);
    Files.writeString(manifest, text.replace("\"format_version\": 3", "\"format_version\": 2"));
    Files.delete(run.resolve(NEWEST + "/manifest.sha256"));
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    TrainResult resumed =
        TrainingRun.run(model, spec(), run, new PrintStream(log, true, StandardCharsets.UTF_8));
    String progress = log.toString(StandardCharsets.UTF_8);
    assertTrue(progress.contains("resumed from " + run.resolve(NEWEST)), progress);
    assertEquals(expected, resumed.losses());
  }

  /** When no checkpoint verifies, resuming refuses instead of training again from step 0. */
  @Test
  void noVerifiableCheckpointIsRefusedRatherThanRestarted() throws Exception {
    Path run = copyOfStopped("all-flipped");
    flip(run.resolve(NEWEST + "/adapter.safetensors"));
    flip(run.resolve(OLDER + "/optimizer.safetensors"));
    CheckpointException e =
        assertThrows(CheckpointException.class, () -> TrainingRun.run(model, spec(), run, null));
    assertTrue(e.getMessage().contains(run.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("--restart"), e.getMessage());

    // --restart sets them aside and trains from step 0, as the uninterrupted run did.
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    TrainResult restarted =
        TrainingRun.run(spec(), run, true, new PrintStream(log, true, StandardCharsets.UTF_8));
    assertEquals(expected, restarted.losses());
    assertTrue(Files.isDirectory(run.resolve("refused-" + NEWEST)), log.toString());
    assertTrue(Files.isDirectory(run.resolve("refused-" + OLDER)), log.toString());
  }

  /** Every manifest deleted while the checkpoints' files remain: refused, not a silent restart. */
  @Test
  void checkpointsWithoutManifestsAreRefusedRatherThanRestarted() throws Exception {
    Path run = copyOfStopped("no-manifests");
    Files.delete(run.resolve(NEWEST + "/manifest.json"));
    Files.delete(run.resolve(OLDER + "/manifest.json"));
    CheckpointException e =
        assertThrows(CheckpointException.class, () -> TrainingRun.run(model, spec(), run, null));
    assertTrue(e.getMessage().contains("no manifest"), e.getMessage());
    assertTrue(e.getMessage().contains("--restart"), e.getMessage());
  }

  // ---------------------------------------------------------------------------------- helpers

  private static Path copyOfStopped(String name) throws IOException {
    Path target = dir.resolve("cases").resolve(name.replaceAll("[^A-Za-z0-9]+", "-"));
    try (Stream<Path> walk = Files.walk(stopped)) {
      for (Path p : walk.sorted(Comparator.naturalOrder()).toList()) {
        Path to = target.resolve(stopped.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(to);
        } else {
          Files.copy(p, to);
        }
      }
    }
    return target;
  }

  /** Flips the bits of 64 bytes in the middle of {@code file}. */
  static void flip(Path file) throws IOException {
    byte[] bytes = Files.readAllBytes(file);
    int from = bytes.length / 2;
    for (int i = from; i < Math.min(bytes.length, from + 64); i++) {
      bytes[i] = (byte) ~bytes[i];
    }
    Files.write(file, bytes);
  }

  private static void swap(Path a, Path b) throws IOException {
    Path tmp = a.resolveSibling("swap.tmp");
    Files.move(a, tmp);
    Files.move(b, a);
    Files.move(tmp, b);
  }

  private static void copy(Path from, Path to) throws IOException {
    Files.copy(from, to, StandardCopyOption.REPLACE_EXISTING);
  }

  private static JsonObject state(JsonObject manifest) {
    return manifest.getAsJsonObject("trainer_state");
  }

  private interface Edit {
    void apply(JsonObject manifest);
  }

  /** Edits the manifest and rewrites its {@code manifest.sha256} to match, as a forger would. */
  private static void editManifest(Path file, Edit edit) throws IOException {
    JsonObject manifest = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
    edit.apply(manifest);
    String text = new GsonBuilder().setPrettyPrinting().create().toJson(manifest);
    Files.writeString(file, text);
    try {
      byte[] digest =
          MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
      Files.writeString(
          file.resolveSibling("manifest.sha256"),
          HexFormat.of().formatHex(digest) + "  manifest.json\n");
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Changes the first digit of the manifest's initial loss in its text (7.38... to 8.38...). */
  private static void editInitialLoss(Path file) throws IOException {
    String text = Files.readString(file);
    java.util.regex.Matcher m =
        java.util.regex.Pattern.compile("\"initial_loss\": (\\d)").matcher(text);
    assertTrue(m.find(), text);
    int digit = (m.group(1).charAt(0) - '0' + 1) % 10;
    Files.writeString(file, text.substring(0, m.start(1)) + digit + text.substring(m.end(1)));
  }

  /** Rewrites the sizes and SHA-256 of a checkpoint's files in its manifest to match the files. */
  private static void rehash(Path checkpoint) throws IOException {
    editManifest(
        checkpoint.resolve("manifest.json"),
        m -> {
          for (JsonElement e : m.getAsJsonArray("files")) {
            JsonObject f = e.getAsJsonObject();
            Path file = checkpoint.resolve(f.get("path").getAsString());
            try {
              byte[] bytes = Files.readAllBytes(file);
              f.addProperty("bytes", bytes.length);
              f.addProperty(
                  "sha256",
                  HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)));
            } catch (Exception x) {
              throw new IllegalStateException(x);
            }
          }
        });
  }
}
