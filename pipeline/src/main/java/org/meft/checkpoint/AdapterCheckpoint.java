package org.meft.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.arrow.memory.BufferAllocator;
import org.meft.adapter.InstalledAdapters;
import org.meft.format.CheckpointException;
import org.meft.format.SafetensorsFile;
import org.meft.format.SafetensorsWriter;
import org.meft.model.Llama;
import org.meft.reversible.ReversibleStack;
import org.meft.store.HostStore;
import org.meft.store.StoreFile;
import org.meft.train.RunSpec;
import org.meft.train.TrainResult;
import org.meft.train.TrainerSnapshot;

/**
 * Adapter checkpoints: a run directory holds {@code checkpoint-NNNNNN/} directories (NNNNNN the
 * step), each:
 *
 * <pre>
 *   manifest.sha256          the manifest's SHA-256, as {@code sha256sum} writes it
 *   manifest.json            {@link CheckpointManifest}, written last
 *   adapter.safetensors      the device parameters, F32, named as {@link
 *                            InstalledAdapters#namedDeviceParameters()}
 *   optimizer.safetensors    their AdamW moments: NAME.exp_avg, NAME.exp_avg_sq (F32)
 *   store/layer-LL.arrow     meft only: one {@link StoreFile} per adapted model layer LL
 * </pre>
 *
 * A checkpoint is written into a temporary sibling directory ({@code .tmp-checkpoint-...}), every
 * file forced to disk, then renamed atomically to its final name; checkpoints older than the last
 * {@value #KEEP} are then removed (manifest first, so a half-removed one is never taken as
 * complete). A killed writer leaves only a temporary directory, which {@link #latest} ignores and
 * {@link #removeIncomplete} deletes.
 *
 * <p>Every file records the checkpoint's step ({@value #STEP_KEY} in the safetensors metadata and
 * the store files' schema metadata, with {@code meft.layer} in the latter), and the manifest
 * records every file's size and SHA-256 ({@link CheckpointFile}), the manifest's own in {@code
 * manifest.sha256}: {@link #verify} and {@link #load} refuse a damaged, swapped or foreign file,
 * naming it and the reason.
 */
public final class AdapterCheckpoint {
  public static final String MANIFEST = "manifest.json";
  public static final String MANIFEST_SHA256 = "manifest.sha256";
  public static final String ADAPTER = "adapter.safetensors";
  public static final String OPTIMIZER = "optimizer.safetensors";
  public static final String STORE = "store";
  private static final String PREFIX = "checkpoint-";
  private static final String TEMPORARY = ".tmp-" + PREFIX;
  private static final Pattern NAME = Pattern.compile(PREFIX + "(\\d+)");

  /** The metadata key of the step a checkpoint's file belongs to. */
  public static final String STEP_KEY = "meft.step";

  /** The store files' metadata key of their model layer. */
  public static final String LAYER_KEY = "meft.layer";

  /** How many checkpoints a run keeps: the newest, and one to fall back to. */
  public static final int KEEP = 2;

  private AdapterCheckpoint() {}

  /** The file of store layer {@code modelLayer}, relative to the checkpoint directory. */
  public static String storeFile(int modelLayer) {
    return String.format(Locale.ROOT, "%s/layer-%02d.arrow", STORE, modelLayer);
  }

  /** {@code checkpoint-NNNNNN}. */
  public static String directoryName(int step) {
    return String.format(Locale.ROOT, "%s%06d", PREFIX, step);
  }

  // ------------------------------------------------------------------------------------ write

  /**
   * Writes a checkpoint of {@code adapters} at {@code snapshot}'s step into {@code runDir}
   * atomically, then removes the run's other checkpoints.
   *
   * @param fingerprint the base model's {@link ModelFingerprint}, taken before training
   * @param allocator where the store files' record batches are allocated (about 8 MiB at a time)
   * @return the checkpoint directory
   * @throws CheckpointException if a file cannot be written (the run's earlier checkpoint stays)
   */
  public static Path write(
      Path runDir,
      RunSpec spec,
      String fingerprint,
      InstalledAdapters adapters,
      TrainerSnapshot snapshot,
      TrainResult soFar,
      BufferAllocator allocator) {
    int step = snapshot.state().step();
    Path target = runDir.resolve(directoryName(step));
    Path tmp =
        runDir.resolve(TEMPORARY + String.format(Locale.ROOT, "%06d-%d", step, System.nanoTime()));
    try {
      Files.createDirectories(tmp);
      List<CheckpointFile> files = new ArrayList<>();
      Map<String, NDArray> tensors = new LinkedHashMap<>();
      adapters.namedDeviceParameters().forEach((name, p) -> tensors.put(name, p.getArray()));
      Map<String, String> metadata = Map.of("format", "pt", STEP_KEY, Integer.toString(step));
      SafetensorsWriter.write(tmp.resolve(ADAPTER), tensors, DataType.FLOAT32, metadata);
      files.add(CheckpointFile.of(tmp, ADAPTER));
      SafetensorsWriter.write(
          tmp.resolve(OPTIMIZER), snapshot.optimizer(), DataType.FLOAT32, metadata);
      files.add(CheckpointFile.of(tmp, OPTIMIZER));
      HostStore store = adapters.store();
      List<Integer> layers = adapters.layers();
      if (store != null) {
        Files.createDirectories(tmp.resolve(STORE));
        for (int i = 0; i < layers.size(); i++) {
          String file = storeFile(layers.get(i));
          StoreFile.write(
              store, i, tmp.resolve(file), allocator, storeMetadata(layers.get(i), step));
          files.add(CheckpointFile.of(tmp, file));
        }
        force(tmp.resolve(STORE));
      }
      CheckpointManifest manifest =
          new CheckpointManifest(
              CheckpointManifest.FORMAT_VERSION,
              spec,
              fingerprint,
              step,
              soFar.toJson(),
              snapshot.state(),
              layers,
              files);
      String manifestText = manifest.toJsonText();
      writeForced(
          tmp.resolve(MANIFEST_SHA256),
          CheckpointManifest.sha256Line(manifestText.getBytes(StandardCharsets.UTF_8)));
      writeForced(tmp.resolve(MANIFEST), manifestText);
      force(tmp);
      if (Files.exists(target)) {
        delete(target);
      }
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        throw new CheckpointException(runDir, "the file system cannot rename atomically", e);
      }
      force(runDir);
    } catch (IOException e) {
      deleteQuietly(tmp);
      throw new CheckpointException(target, "cannot write the checkpoint: " + e, e);
    } catch (RuntimeException e) {
      deleteQuietly(tmp);
      throw e;
    }
    List<Path> all = directories(runDir);
    for (Path old : all.subList(0, Math.max(0, all.size() - KEEP))) {
      deleteQuietly(old);
    }
    return target;
  }

  private static Map<String, String> storeMetadata(int modelLayer, int step) {
    return Map.of(LAYER_KEY, Integer.toString(modelLayer), STEP_KEY, Integer.toString(step));
  }

  private static void writeForced(Path file, String text) throws IOException {
    try (FileChannel channel =
        FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      channel.write(java.nio.ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)));
      channel.force(true);
    }
  }

  /** Forces a directory's entries to disk (a no-op where directories cannot be opened). */
  private static void force(Path directory) {
    try (FileChannel channel = FileChannel.open(directory, StandardOpenOption.READ)) {
      channel.force(true);
    } catch (IOException e) {
      // Some platforms cannot open a directory; the rename is still atomic there.
    }
  }

  // ------------------------------------------------------------------------------------- find

  /** The complete checkpoints of a run directory, oldest first (none when it does not exist). */
  public static List<Path> complete(Path runDir) {
    if (!Files.isDirectory(runDir)) {
      return List.of();
    }
    try (Stream<Path> entries = Files.list(runDir)) {
      return entries
          .filter(p -> NAME.matcher(p.getFileName().toString()).matches())
          .filter(p -> Files.isRegularFile(p.resolve(MANIFEST)))
          .sorted(Comparator.comparingInt(AdapterCheckpoint::stepOf))
          .toList();
    } catch (IOException e) {
      throw new CheckpointException(runDir, "cannot list: " + e, e);
    }
  }

  /**
   * Every checkpoint directory of a run, complete or not (with or without a manifest), oldest
   * first.
   */
  public static List<Path> directories(Path runDir) {
    if (!Files.isDirectory(runDir)) {
      return List.of();
    }
    try (Stream<Path> entries = Files.list(runDir)) {
      return entries
          .filter(p -> NAME.matcher(p.getFileName().toString()).matches())
          .filter(Files::isDirectory)
          .sorted(Comparator.comparingInt(AdapterCheckpoint::stepOf))
          .toList();
    } catch (IOException e) {
      throw new CheckpointException(runDir, "cannot list: " + e, e);
    }
  }

  /** Deletes a checkpoint directory (its manifest first, so it is never taken as complete). */
  public static void remove(Path checkpoint) {
    try {
      delete(checkpoint);
    } catch (IOException e) {
      throw new CheckpointException(checkpoint, "cannot delete: " + e, e);
    }
  }

  /** The run's latest complete checkpoint, if any. */
  public static Optional<Path> latest(Path runDir) {
    List<Path> all = complete(runDir);
    return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
  }

  /** Deletes the temporary directories that interrupted writes left in {@code runDir}. */
  public static void removeIncomplete(Path runDir) {
    if (!Files.isDirectory(runDir)) {
      return;
    }
    try (Stream<Path> entries = Files.list(runDir)) {
      for (Path p :
          entries.filter(p -> p.getFileName().toString().startsWith(TEMPORARY)).toList()) {
        delete(p);
      }
    } catch (IOException e) {
      throw new CheckpointException(runDir, "cannot remove an incomplete checkpoint: " + e, e);
    }
  }

  /**
   * {@code path} itself when it holds a manifest, else the latest complete checkpoint in it (a run
   * directory).
   *
   * @throws CheckpointException when it is neither
   */
  public static Path resolve(Path path) {
    if (Files.isRegularFile(path.resolve(MANIFEST))) {
      return path;
    }
    if (!Files.isDirectory(path)) {
      throw new CheckpointException(path, "adapter checkpoint not found");
    }
    return latest(path)
        .orElseThrow(
            () ->
                new CheckpointException(
                    path.resolve(MANIFEST),
                    "no manifest, and no complete " + PREFIX + "NNNNNN directory inside"));
  }

  /** The manifest of a checkpoint (or of a run directory's latest one). */
  public static CheckpointManifest readManifest(Path path) {
    return CheckpointManifest.read(resolve(path).resolve(MANIFEST));
  }

  /**
   * Checks a checkpoint directory before anything loads from it: its manifest (readable, its
   * counters consistent, {@link CheckpointManifest#read}), that the manifest's step is the
   * directory's, and every listed file's size and SHA-256.
   *
   * @return the manifest
   * @throws CheckpointException naming the file and the reason
   */
  public static CheckpointManifest verify(Path checkpoint) {
    Path manifestFile = checkpoint.resolve(MANIFEST);
    CheckpointManifest manifest = CheckpointManifest.read(manifestFile);
    int step = stepOf(checkpoint);
    if (step >= 0 && manifest.step() != step) {
      throw new CheckpointException(
          manifestFile,
          "records step "
              + manifest.step()
              + ", but it is the manifest of "
              + checkpoint.getFileName()
              + " (edited, or copied from another checkpoint)");
    }
    for (CheckpointFile file : manifest.files()) {
      file.verify(checkpoint);
    }
    return manifest;
  }

  private static int stepOf(Path checkpoint) {
    Matcher m = NAME.matcher(checkpoint.getFileName().toString());
    return m.matches() ? Integer.parseInt(m.group(1)) : -1;
  }

  // ------------------------------------------------------------------------------------- load

  /**
   * Installs the adapter of a checkpoint (or of a run directory's latest one) into {@code model}:
   * the device parameters in {@code manager}, the meft store in {@code allocator}.
   *
   * @throws CheckpointException naming the file: no manifest, another base model (both fingerprints
   *     named), a missing, extra or misshapen tensor, a bad store file
   */
  public static InstalledAdapters load(
      Path path, Llama model, NDManager manager, BufferAllocator allocator) {
    Path dir = resolve(path);
    CheckpointManifest manifest = verify(dir);
    String actual = ModelFingerprint.of(model);
    if (!actual.equals(manifest.baseModelFingerprint())) {
      throw new CheckpointException(
          dir.resolve(MANIFEST),
          "the adapter was trained on base model "
              + manifest.baseModelFingerprint()
              + ", but the given model is "
              + actual
              + " (pass the base model the run used: "
              + manifest.run().baseModel()
              + " with --base-dtype "
              + manifest.run().baseDtype()
              + ")");
    }
    InstalledAdapters adapters =
        InstalledAdapters.installForRestore(model, manifest.run().adapter(), manager, allocator);
    try {
      ReversibleStack.install(model, manifest.run().train().reversible(), adapters, manager, 0);
      if (!adapters.layers().equals(manifest.layers())) {
        throw new CheckpointException(
            dir.resolve(MANIFEST),
            "layers " + manifest.layers() + " do not match the model's " + adapters.layers());
      }
      HostStore store = adapters.store();
      if ((store != null) != manifest.hasHostStore()) {
        throw new CheckpointException(
            dir.resolve(MANIFEST),
            "lists "
                + manifest.files().size()
                + " files, a "
                + manifest.run().adapter().method().name()
                + " checkpoint holds "
                + manifest.expectedFiles(store != null));
      }
      readParameters(dir.resolve(ADAPTER), manifest.step(), adapters.namedDeviceParameters());
      if (store != null) {
        for (int i = 0; i < manifest.layers().size(); i++) {
          int layer = manifest.layers().get(i);
          StoreFile.read(
              store,
              i,
              dir.resolve(storeFile(layer)),
              allocator,
              storeMetadata(layer, manifest.step()));
        }
      }
      return adapters;
    } catch (RuntimeException e) {
      adapters.close();
      throw e;
    }
  }

  /**
   * The trainer's state at the checkpoint, with the device optimizer's moments loaded into {@code
   * manager}; the optimizer file is checked against the manifest first.
   */
  public static TrainerSnapshot readTrainerSnapshot(Path path, NDManager manager) {
    Path dir = resolve(path);
    CheckpointManifest manifest = CheckpointManifest.read(dir.resolve(MANIFEST));
    manifest.files().stream().filter(f -> f.path().equals(OPTIMIZER)).forEach(f -> f.verify(dir));
    Map<String, NDArray> optimizer = new LinkedHashMap<>();
    try (SafetensorsFile file = SafetensorsFile.open(dir.resolve(OPTIMIZER))) {
      checkStep(file, manifest.step());
      for (String name : file.tensors().keySet()) {
        optimizer.put(name, file.load(name, manager, DataType.FLOAT32));
      }
    }
    return new TrainerSnapshot(manifest.trainerState(), optimizer);
  }

  /** A safetensors file of a checkpoint records the checkpoint's step in its metadata. */
  private static void checkStep(SafetensorsFile file, int step) {
    String recorded = file.metadata().get(STEP_KEY);
    if (!Integer.toString(step).equals(recorded)) {
      throw new CheckpointException(
          file.path(),
          "its metadata records "
              + STEP_KEY
              + " "
              + recorded
              + ", the checkpoint is at step "
              + step
              + " (a file of another checkpoint)");
    }
  }

  private static void readParameters(Path file, int step, Map<String, Parameter> parameters) {
    try (SafetensorsFile tensors = SafetensorsFile.open(file)) {
      checkStep(tensors, step);
      for (String name : tensors.tensors().keySet()) {
        if (!parameters.containsKey(name)) {
          throw new CheckpointException(file, name, "is no parameter of this adapter");
        }
      }
      for (Map.Entry<String, Parameter> e : parameters.entrySet()) {
        SafetensorsFile.TensorInfo info = tensors.tensors().get(e.getKey());
        NDArray target = e.getValue().getArray();
        if (info == null) {
          throw new CheckpointException(file, e.getKey(), "missing");
        }
        if (!info.djlShape().equals(target.getShape())) {
          throw new CheckpointException(
              file,
              e.getKey(),
              "has shape " + info.djlShape() + ", the adapter needs " + target.getShape());
        }
        try (NDManager scratch = target.getManager().newSubManager();
            NDArray view = target.stopGradient()) {
          NDArray loaded = tensors.load(e.getKey(), scratch, target.getDataType());
          view.set(new NDIndex("..."), loaded);
        }
      }
    }
  }

  // ----------------------------------------------------------------------------------- delete

  private static void delete(Path root) throws IOException {
    if (!Files.exists(root)) {
      return;
    }
    Path manifest = root.resolve(MANIFEST);
    Files.deleteIfExists(manifest);
    try (Stream<Path> walk = Files.walk(root)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  private static void deleteQuietly(Path root) {
    try {
      delete(root);
    } catch (IOException | UncheckedIOException e) {
      // Best effort: a leftover directory is ignored by latest() and removed on the next resume.
    }
  }
}
