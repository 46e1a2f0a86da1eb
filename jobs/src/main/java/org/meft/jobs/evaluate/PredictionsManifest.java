package org.meft.jobs.evaluate;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.meft.datasets.prepare.PreparedShards;

/**
 * The Parquet parts of a predictions folder and the rows of each, written by {@code evaluate} once
 * the folder is complete, as {@code _manifest.json} (a name Spark's reader skips), and checked by
 * {@code report}: a lost, added or cut part is refused by name, never scored on what is left.
 * Predictions evaluated by an earlier build have no manifest; the report reads them unchecked.
 */
public final class PredictionsManifest {
  public static final String FILE = "_manifest.json";
  private static final Gson GSON = new GsonBuilder().setPrettyPrinting().create();

  private PredictionsManifest() {}

  /** Writes the manifest of the parts {@code folder} holds now; returns their rows in all. */
  public static long write(Path folder) {
    Map<String, Long> parts = new TreeMap<>();
    for (Path part : parts(folder)) {
      parts.put(part.getFileName().toString(), PreparedShards.rowCount(part));
    }
    JsonObject rows = new JsonObject();
    parts.forEach(rows::addProperty);
    JsonObject manifest = new JsonObject();
    manifest.addProperty("rows", parts.values().stream().mapToLong(Long::longValue).sum());
    manifest.add("parts", rows);
    try {
      Files.writeString(folder.resolve(FILE), GSON.toJson(manifest) + "\n", StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + folder.resolve(FILE), e);
    }
    return manifest.get("rows").getAsLong();
  }

  /**
   * Checks that {@code folder} holds exactly the parts its manifest lists, each with its rows; a
   * folder of parts without a manifest (evaluated by an earlier build) cannot be checked.
   *
   * @return whether the folder had a manifest to check
   * @throws IllegalArgumentException of one line naming the folder and the part
   */
  public static boolean check(Path folder) {
    Path file = folder.resolve(FILE);
    if (!Files.isRegularFile(file)) {
      if (parts(folder).isEmpty()) {
        throw new IllegalArgumentException(
            folder + " holds no predictions (no .parquet parts): run evaluate");
      }
      return false;
    }
    Map<String, Long> listed = new TreeMap<>();
    try {
      JsonObject parts = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
      for (Map.Entry<String, JsonElement> part : parts.getAsJsonObject("parts").entrySet()) {
        listed.put(part.getKey(), part.getValue().getAsLong());
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    } catch (JsonParseException | IllegalStateException | NullPointerException e) {
      throw new IllegalArgumentException(file + ": not a predictions manifest (" + e + ")");
    }
    List<Path> present = parts(folder);
    for (Path part : present) {
      String name = part.getFileName().toString();
      if (!listed.containsKey(name)) {
        throw new IllegalArgumentException(
            part + " is not listed in " + file + ": the folder holds parts evaluate did not write");
      }
      long rows = PreparedShards.rowCount(part);
      if (rows != listed.get(name)) {
        throw new IllegalArgumentException(
            part + " holds " + rows + " rows where " + file + " lists " + listed.get(name));
      }
    }
    if (present.size() != listed.size()) {
      List<String> names = present.stream().map(p -> p.getFileName().toString()).toList();
      String lost =
          listed.keySet().stream().filter(name -> !names.contains(name)).findFirst().orElseThrow();
      throw new IllegalArgumentException(
          folder
              + " lacks "
              + (listed.size() - present.size())
              + " of the "
              + listed.size()
              + " parts "
              + file.getFileName()
              + " lists ("
              + lost
              + (listed.size() - present.size() > 1 ? ", ..." : "")
              + "): the predictions are incomplete; run evaluate again");
    }
    return true;
  }

  private static List<Path> parts(Path folder) {
    try (Stream<Path> files = Files.list(folder)) {
      return files.filter(f -> f.getFileName().toString().endsWith(".parquet")).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + folder, e);
    }
  }
}
