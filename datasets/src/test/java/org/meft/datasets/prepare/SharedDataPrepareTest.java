package org.meft.datasets.prepare;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.datasets.testing.Fixtures;
import org.meft.datasets.testing.LocalSpark;

/**
 * The real datasets in ../shared: every record of each file is written or rejected, the manifest
 * adds up, and one core or two write byte-identical output. SQuAD's 87,599 training questions take
 * a minute or two more; they join with {@code -Dmeft.prepare.squad=true} (the README's command
 * prepares all four datasets).
 */
class SharedDataPrepareTest {
  @TempDir Path dir;

  @Test
  void everyRecordIsAccountedForAndCoresDoNotChangeTheOutput() throws IOException {
    Path datasets = Fixtures.requireShared("datasets");
    Path tokenizer = Fixtures.requireShared("models/stories260K-hf/tokenizer.json");
    boolean squad = Boolean.getBoolean("meft.prepare.squad");
    List<String> names = new ArrayList<>(List.of("nq", "gsm8k", "toolbench"));
    if (squad) {
      names.add("squad");
    }
    Path two = dir.resolve("local-2");
    PrepareJob.run(
        LocalSpark.session(2),
        new PrepareConfig(List.of(datasets), names, tokenizer, two, 512, 2, 0.2, false));

    Map<String, Long> units = new TreeMap<>();
    JsonObject manifest =
        JsonParser.parseString(Files.readString(two.resolve("_manifest.json"))).getAsJsonObject();
    for (JsonElement element : manifest.getAsJsonArray("sources")) {
      JsonObject source = element.getAsJsonObject();
      long read = source.get("units").getAsLong();
      assertEquals(
          read,
          source.get("records").getAsLong() + source.get("rejected").getAsLong(),
          source.get("path").getAsString());
      units.put(datasets.relativize(Path.of(source.get("path").getAsString())).toString(), read);
    }
    // PROVENANCE.md's counts.
    assertEquals(7_473, units.get("gsm8k/train.jsonl"));
    assertEquals(1_000, units.get("gsm8k/test.jsonl"));
    assertEquals(3_000, units.get("nq_open/NQ-open.dev.jsonl"));
    assertEquals(1_800, units.get("nq_open/NQ-open.efficientqa.dev.1.1.jsonl"));
    assertEquals(1_769, units.get("nq_open/NQ-open.efficientqa.test.1.1.jsonl"));
    long toolbench =
        units.entrySet().stream()
            .filter(e -> e.getKey().startsWith("toolbench/"))
            .mapToLong(Map.Entry::getValue)
            .sum();
    assertEquals(704, toolbench);
    if (squad) {
      assertEquals(87_599, units.get("squad/train-v1.1.json"));
    }
    JsonObject totals = manifest.getAsJsonObject("totals");
    assertEquals(
        totals.get("units").getAsLong(),
        totals.get("records").getAsLong() + totals.get("rejected").getAsLong());

    Path one = dir.resolve("local-1");
    PrepareJob.run(
        LocalSpark.session(1),
        new PrepareConfig(List.of(datasets), names, tokenizer, one, 512, 2, 0.2, false));
    assertEquals(
        Trees.digest(two), Trees.digest(one), "local[1] and local[2] write the same bytes");
  }
}
