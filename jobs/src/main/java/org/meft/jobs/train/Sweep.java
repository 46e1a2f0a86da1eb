package org.meft.jobs.train;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.meft.adapter.ComposedMethod;
import org.meft.datasets.Datasets;
import org.meft.datasets.Split;
import org.meft.datasets.prepare.PreparedShards;
import org.meft.train.RunSpec;

/**
 * A sweep file: the runs of one {@code bin/meft train-sweep}.
 *
 * <pre>
 * {
 *   "model": "../shared/models/stories260K-hf",      every member but "runs" is a default
 *   "steps": 200, "batch-size": 8, "lr": 0.003,        for every run
 *   "runs": [
 *     {"dataset": "nq", "method": "meft", "adapter-size": 4096, "top-k": 64},
 *     {"id": "nq-lora-r8", "dataset": "nq", "method": "lora", "lora-rank": 8}
 *   ]
 * }
 * </pre>
 *
 * <p>A run's members override the defaults. Besides the settings of {@code bin/meft train} (its
 * flag names: {@code model, tokenizer, method, steps, batch-size, lr, adapter-size, ...,
 * checkpoint-every}), a run takes {@code dataset} (required), {@code id} (default {@code
 * dataset-method}, a composed method's {@code +} as {@code -}, numbered when repeated) and {@code
 * max-examples} (train on the first N examples, default all). {@code data} is not given: it is the
 * dataset's prepared train split. Relative paths are relative to the sweep file's folder. Every run
 * is checked before anything starts.
 */
public final class Sweep {
  private Sweep() {}

  /**
   * Reads and checks {@code file} against the prepared folder.
   *
   * @throws IllegalArgumentException naming the file, the run and the setting that is wrong
   */
  public static List<SweepRun> read(Path file, Path prepared) {
    JsonObject root;
    try {
      root =
          JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8)).getAsJsonObject();
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException(file + ": no such file");
    } catch (IOException e) {
      throw new IllegalArgumentException(file + ": cannot read: " + e.getMessage());
    } catch (JsonParseException | IllegalStateException e) {
      throw new IllegalArgumentException(file + ": not a JSON object: " + e.getMessage());
    }
    JsonElement runsElement = root.get("runs");
    if (runsElement == null
        || !runsElement.isJsonArray()
        || runsElement.getAsJsonArray().isEmpty()) {
      throw new IllegalArgumentException(file + ": \"runs\" must be a non-empty array of objects");
    }
    JsonObject defaults = root.deepCopy();
    defaults.remove("runs");
    Path base = file.toAbsolutePath().getParent();
    Path preparedDir = prepared.toAbsolutePath().normalize();
    List<SweepRun> runs = new ArrayList<>();
    Set<String> ids = new HashSet<>();
    Map<String, Integer> counters = new LinkedHashMap<>();
    for (int i = 0; i < runsElement.getAsJsonArray().size(); i++) {
      JsonElement element = runsElement.getAsJsonArray().get(i);
      String where = file + ": runs[" + i + "]";
      if (!element.isJsonObject()) {
        throw new IllegalArgumentException(where + ": expected an object, got " + element);
      }
      try {
        JsonObject merged = defaults.deepCopy();
        element.getAsJsonObject().entrySet().forEach(e -> merged.add(e.getKey(), e.getValue()));
        Map<String, String> settings = RunSpec.settingsOf(merged);
        String dataset = settings.remove("dataset");
        if (dataset == null) {
          throw new IllegalArgumentException("dataset: required (one of " + Datasets.names() + ")");
        }
        dataset = Datasets.byName(dataset).name();
        int maxExamples = integer(settings.remove("max-examples"), "max-examples");
        String id = settings.remove("id");
        if (settings.containsKey("data")) {
          throw new IllegalArgumentException(
              "data: not a sweep setting (a run trains on its dataset's prepared train split)");
        }
        if (id == null) {
          // A composition's join is no folder-name character: meft+lora's runs are nq-meft-lora.
          String method = settings.getOrDefault("method", "run").replace(ComposedMethod.JOIN, "-");
          String stem = dataset + "-" + method;
          int n = counters.merge(stem, 1, Integer::sum);
          id = n == 1 ? stem : stem + "-" + n;
        }
        where = where + " ('" + id + "')";
        if (!ids.add(id)) {
          throw new IllegalArgumentException("id: '" + id + "' is used by another run");
        }
        for (String key : List.of("model", "tokenizer")) {
          if (settings.containsKey(key)) {
            settings.put(key, base.resolve(settings.get(key)).normalize().toString());
          }
        }
        PreparedShards.files(preparedDir, dataset, Split.TRAIN);
        settings.put(
            "data", preparedDir.resolve("dataset=" + dataset).resolve("split=train").toString());
        RunSpec.fromSettings(settings);
        runs.add(new SweepRun(id, dataset, preparedDir.toString(), maxExamples, settings));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
      }
    }
    return runs;
  }

  private static int integer(String value, String key) {
    if (value == null) {
      return 0;
    }
    try {
      return Integer.parseInt(value);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(key + ": expected an integer, got '" + value + "'");
    }
  }
}
