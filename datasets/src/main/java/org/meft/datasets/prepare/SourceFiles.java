package org.meft.datasets.prepare;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.meft.datasets.Dataset;
import org.meft.datasets.Datasets;
import org.meft.datasets.FileType;
import org.meft.datasets.StableHash;

/**
 * Finds the raw files of each requested dataset among the inputs, on the driver.
 *
 * <p>An input directory holding folders named after datasets ({@code nq_open}, {@code squad},
 * {@code gsm8k}, {@code toolbench}, see {@link Dataset#folderNames}) gives each requested dataset
 * the files of its folder; any other input directory or file belongs to the dataset named by its
 * nearest folder (or file name) of that kind, or, when only one dataset is requested, to that one.
 * Within a directory only the files directly in it count (as Spark reads a directory), with an
 * extension the dataset reads ({@link Dataset#fileTypes}); names starting with {@code .} or {@code
 * _} and other files (README, LICENSE) are skipped. A file named explicitly must have such an
 * extension. Every requested dataset needs at least one file; a file given twice counts once.
 */
public final class SourceFiles {
  private SourceFiles() {}

  /**
   * The source files of {@code datasets} under {@code inputs}, by dataset order then path.
   *
   * @throws IllegalArgumentException when an input does not exist, a file cannot be attributed to a
   *     requested dataset, or a requested dataset has no file
   */
  public static List<SourceFile> resolve(List<Path> inputs, List<String> datasets) {
    Map<String, TreeSet<Path>> files = new LinkedHashMap<>();
    datasets.forEach(name -> files.put(Datasets.byName(name).name(), new TreeSet<>()));
    for (Path input : inputs) {
      Path path = input.toAbsolutePath().normalize();
      if (!Files.exists(path)) {
        throw new IllegalArgumentException("input not found: " + input);
      }
      if (Files.isDirectory(path)) {
        boolean datasetFolders = false;
        for (String name : files.keySet()) {
          for (String folder : Datasets.byName(name).folderNames()) {
            if (Files.isDirectory(path.resolve(folder))) {
              files.get(name).addAll(readable(path.resolve(folder), name));
              datasetFolders = true;
            }
          }
        }
        if (!datasetFolders) {
          String name = owner(path, files.keySet());
          files.get(name).addAll(readable(path, name));
        }
      } else {
        String name = owner(path, files.keySet());
        Dataset dataset = Datasets.byName(name);
        Optional<FileType> type = FileType.of(path.getFileName().toString());
        if (type.isEmpty() || !dataset.fileTypes().contains(type.get())) {
          throw new IllegalArgumentException(
              input + ": " + name + " reads " + extensions(dataset) + " files");
        }
        files.get(name).add(path);
      }
    }
    List<SourceFile> sources = new ArrayList<>();
    files.forEach(
        (name, paths) -> {
          if (paths.isEmpty()) {
            throw new IllegalArgumentException(
                "no "
                    + extensions(Datasets.byName(name))
                    + " files for dataset '"
                    + name
                    + "' in "
                    + inputs
                    + " (expected a folder named "
                    + String.join(" or ", Datasets.byName(name).folderNames())
                    + ")");
          }
          List<String> names = paths.stream().map(p -> p.getFileName().toString()).toList();
          for (Path path : paths) {
            String fileName = path.getFileName().toString();
            sources.add(
                new SourceFile(
                    name,
                    path.toString(),
                    FileType.of(fileName).orElseThrow(),
                    size(path),
                    sha256(path),
                    Datasets.byName(name).splitRole(fileName, names)));
          }
        });
    return sources;
  }

  private static List<Path> readable(Path directory, String name) {
    Dataset dataset = Datasets.byName(name);
    try (Stream<Path> listing = Files.list(directory)) {
      return listing
          .filter(Files::isRegularFile)
          .filter(
              p -> {
                String fileName = p.getFileName().toString();
                return !fileName.startsWith(".")
                    && !fileName.startsWith("_")
                    && FileType.of(fileName).filter(dataset.fileTypes()::contains).isPresent();
              })
          .sorted(Comparator.naturalOrder())
          .toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The requested dataset a path belongs to, by its nearest dataset-named folder or name. */
  private static String owner(Path path, Iterable<String> requested) {
    List<String> candidates = new ArrayList<>();
    requested.forEach(candidates::add);
    for (Path at = path; at != null && at.getFileName() != null; at = at.getParent()) {
      String component = at.getFileName().toString().toLowerCase(Locale.ROOT);
      for (Dataset dataset : Datasets.ALL) {
        if (names(component, dataset.name())
            || dataset.folderNames().stream().anyMatch(folder -> names(component, folder))) {
          if (!candidates.contains(dataset.name())) {
            throw new IllegalArgumentException(
                path
                    + " holds "
                    + dataset.name()
                    + " data, which is not among the requested datasets "
                    + candidates);
          }
          return dataset.name();
        }
      }
    }
    if (candidates.size() == 1) {
      return candidates.get(0);
    }
    throw new IllegalArgumentException(
        "cannot tell which dataset "
            + path
            + " belongs to: put it in a folder named after the dataset (nq_open, squad, gsm8k,"
            + " toolbench) or prepare one dataset at a time");
  }

  /** Whether a path component is {@code name}, or starts with it and a separator: nq-open.x. */
  private static boolean names(String component, String name) {
    return component.startsWith(name)
        && (component.length() == name.length()
            || !Character.isLetterOrDigit(component.charAt(name.length())));
  }

  private static String extensions(Dataset dataset) {
    return String.join(
        "/", dataset.fileTypes().stream().map(FileType::extension).sorted().toList());
  }

  private static long size(Path path) {
    try {
      return Files.size(path);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** SHA-256 of a file's content, lower-case hex. */
  public static String sha256(Path path) {
    MessageDigest digest = StableHash.digest();
    byte[] buffer = new byte[1 << 16];
    try (InputStream in = Files.newInputStream(path)) {
      for (int n; (n = in.read(buffer)) > 0; ) {
        digest.update(buffer, 0, n);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return HexFormat.of().formatHex(digest.digest());
  }
}
