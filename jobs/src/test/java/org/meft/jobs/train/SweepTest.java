package org.meft.jobs.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.adapter.ComposedConfig;
import org.meft.adapter.lora.LoraConfig;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.parallel.ParallelConfig;
import org.meft.datasets.Datasets;
import org.meft.datasets.prepare.OutputDirectory;
import org.meft.train.RunSpec;

/** A sweep file's runs may name a composed method ({@code A+B}), with both methods' settings. */
class SweepTest {
  @TempDir Path dir;
  private Path prepared;

  /** The outline of a prepared folder: its manifest and one nq train shard. */
  @BeforeEach
  void prepared() throws IOException {
    prepared = dir.resolve("prepared");
    for (String dataset : Datasets.names()) {
      Path shards =
          Files.createDirectories(prepared.resolve("dataset=" + dataset).resolve("split=train"));
      Files.writeString(shards.resolve("part-0.parquet"), "");
    }
    Files.writeString(prepared.resolve(OutputDirectory.MANIFEST), "{}");
  }

  @Test
  void aComposedMethodParsesWithBothMethodsSettings() throws IOException {
    Path sweep = dir.resolve("sweep.json");
    Files.writeString(
        sweep,
        "{\"model\": \"model\", \"steps\": 4, \"batch-size\": 2, \"lr\": 0.01, \"runs\": ["
            + "{\"dataset\": \"nq\", \"method\": \"meft+lora\", \"adapter-size\": 64,"
            + " \"top-k\": 8, \"lora-rank\": 4, \"lora-targets\": [\"q\", \"v\"]},"
            + "{\"dataset\": \"nq\", \"method\": \"meft+parallel\", \"adapter-size\": 64,"
            + " \"top-k\": 8, \"parallel.adapter-size\": 16}]}\n");
    List<SweepRun> runs = Sweep.read(sweep, prepared);
    assertEquals(
        List.of("nq-meft-lora", "nq-meft-parallel"), runs.stream().map(SweepRun::id).toList());

    ComposedConfig meftLora =
        (ComposedConfig) RunSpec.fromSettings(runs.get(0).settings()).adapter();
    assertEquals(64, ((MeftConfig) meftLora.first()).adapterSize());
    assertEquals(4, ((LoraConfig) meftLora.second()).rank());
    ComposedConfig meftParallel =
        (ComposedConfig) RunSpec.fromSettings(runs.get(1).settings()).adapter();
    assertEquals(64, ((MeftConfig) meftParallel.first()).adapterSize());
    assertEquals(16, ((ParallelConfig) meftParallel.second()).adapterSize());
  }

  @Test
  void aCompositionOfFullIsOneClearError() throws IOException {
    Path sweep = dir.resolve("sweep.json");
    Files.writeString(
        sweep,
        "{\"model\": \"model\", \"steps\": 4, \"batch-size\": 2, \"lr\": 0.01, \"runs\": ["
            + "{\"dataset\": \"nq\", \"method\": \"lora+full\"}]}\n");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Sweep.read(sweep, prepared));
    assertTrue(
        e.getMessage()
            .endsWith(
                "runs[0] ('nq-lora-full'): method lora+full: full composes with"
                    + " no other method"),
        e.getMessage());
  }

  /** Every sweep file under examples/ reads: its runs, methods and settings are all valid. */
  @Test
  void everyExampleSweepFileReads() throws IOException {
    Path examples = Path.of("..", "examples");
    List<Path> files;
    try (var listing = Files.list(examples)) {
      files = listing.filter(f -> f.toString().endsWith(".json")).sorted().toList();
    }
    assertTrue(files.size() >= 4, "sweep files in " + examples.toAbsolutePath() + ": " + files);
    for (Path file : files) {
      List<SweepRun> runs = Sweep.read(file, prepared);
      assertTrue(!runs.isEmpty(), file.toString());
    }
  }
}
