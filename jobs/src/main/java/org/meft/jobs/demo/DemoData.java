package org.meft.jobs.demo;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The demo's raw data, in the official file formats: the handful of records written for the demo
 * (resources of this package), or, for {@code --real}, the first records of each file of the shared
 * datasets.
 */
public final class DemoData {
  private static final String RESOURCES = "/org/meft/jobs/demo/data/";
  private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();

  private DemoData() {}

  /** Writes the embedded records under {@code dir}: nq_open/, squad/, gsm8k/, toolbench/. */
  public static Path writeEmbedded(Path dir) {
    try {
      for (String file : resource("files.txt").lines().filter(l -> !l.isBlank()).toList()) {
        Path target = dir.resolve(file);
        Files.createDirectories(target.getParent());
        Files.writeString(target, resource(file), StandardCharsets.UTF_8);
      }
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the demo data to " + dir, e);
    }
  }

  /**
   * Writes the first {@code perFile} records of every file directly inside {@code shared}'s dataset
   * folders (nq_open, squad, gsm8k, toolbench) under {@code dir}, same names, same formats: JSON
   * Lines by line, ToolBench arrays by element, SQuAD by question (articles and paragraphs kept
   * around the questions taken).
   */
  public static Path writeSlice(Path shared, Path dir, int perFile) {
    try {
      for (String folder : List.of("nq_open", "squad", "gsm8k", "toolbench")) {
        Path source = shared.resolve(folder);
        if (!Files.isDirectory(source)) {
          throw new IllegalArgumentException(source + ": dataset folder not found");
        }
        Files.createDirectories(dir.resolve(folder));
        List<Path> files;
        try (Stream<Path> listing = Files.list(source)) {
          files = listing.filter(Files::isRegularFile).sorted().toList();
        }
        for (Path file : files) {
          String name = file.getFileName().toString();
          Path target = dir.resolve(folder).resolve(name);
          if (name.endsWith(".jsonl")) {
            Files.write(target, firstLines(file, perFile), StandardCharsets.UTF_8);
          } else if (name.endsWith(".json")) {
            JsonElement root = readJson(file);
            JsonElement slice =
                root.isJsonArray()
                    ? firstElements(root.getAsJsonArray(), perFile)
                    : firstQuestions(root.getAsJsonObject(), perFile);
            Files.writeString(target, GSON.toJson(slice) + "\n", StandardCharsets.UTF_8);
          }
        }
      }
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot slice " + shared + " into " + dir, e);
    }
  }

  private static List<String> firstLines(Path file, int n) throws IOException {
    List<String> lines = new ArrayList<>();
    try (BufferedReader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      for (String line; lines.size() < n && (line = reader.readLine()) != null; ) {
        if (!line.isBlank()) {
          lines.add(line);
        }
      }
    }
    return lines;
  }

  private static JsonArray firstElements(JsonArray array, int n) {
    JsonArray slice = new JsonArray();
    for (int i = 0; i < Math.min(n, array.size()); i++) {
      slice.add(array.get(i));
    }
    return slice;
  }

  /** SQuAD: {@code data[].paragraphs[].qas[]}, cut after {@code n} questions. */
  private static JsonObject firstQuestions(JsonObject root, int n) {
    JsonObject slice = root.deepCopy();
    JsonArray articles = new JsonArray();
    int left = n;
    for (JsonElement articleElement : root.getAsJsonArray("data")) {
      if (left == 0) {
        break;
      }
      JsonObject article = articleElement.getAsJsonObject().deepCopy();
      JsonArray paragraphs = new JsonArray();
      for (JsonElement paragraphElement : article.getAsJsonArray("paragraphs")) {
        if (left == 0) {
          break;
        }
        JsonObject paragraph = paragraphElement.getAsJsonObject();
        JsonArray qas = firstElements(paragraph.getAsJsonArray("qas"), left);
        left -= qas.size();
        paragraph.add("qas", qas);
        paragraphs.add(paragraph);
      }
      article.add("paragraphs", paragraphs);
      articles.add(article);
    }
    slice.add("data", articles);
    return slice;
  }

  private static JsonElement readJson(Path file) throws IOException {
    try (BufferedReader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      return JsonParser.parseReader(reader);
    }
  }

  private static String resource(String name) throws IOException {
    try (InputStream in = DemoData.class.getResourceAsStream(RESOURCES + name)) {
      if (in == null) {
        throw new IOException("resource " + RESOURCES + name + " is missing from the build");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
