package org.meft.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.model.LlamaConfig;
import org.meft.tokenizer.BpeTokenizerTrainer;

/**
 * Every file a model folder is written with gets the same mode, the one the umask gives a new file
 * (that of a file created plainly beside them): weights were 0600 beside a 0644 config.json.
 */
class FileModeTest {
  @TempDir Path dir;

  @Test
  void weightsConfigAndTokenizerShareTheModeOfAPlainNewFile() throws IOException {
    assumeTrue(FileSystems.getDefault().supportedFileAttributeViews().contains("posix"));
    Path folder = dir.resolve("model");
    try (NDManager manager = NDManager.newBaseManager()) {
      LlamaConfig config = LlamaConfig.of(16, 32, 1, 2, 2, 300, 16);
      HuggingFaceCheckpoint.save(
          RandomLlama.create(config, 1, manager, DataType.FLOAT32), folder, DataType.FLOAT32, 0);
      HuggingFaceCheckpoint.save(
          RandomLlama.create(config, 1, manager, DataType.FLOAT32),
          dir.resolve("sharded"),
          DataType.FLOAT32,
          4096);
    }
    BpeTokenizerTrainer.write(folder.resolve("tokenizer.json"), "once upon a time", 300);
    Set<PosixFilePermission> plain =
        Files.getPosixFilePermissions(Files.createFile(dir.resolve("plain")));
    List<Path> written = new ArrayList<>();
    for (Path folderWritten : List.of(folder, dir.resolve("sharded"))) {
      try (Stream<Path> files = Files.list(folderWritten)) {
        files.forEach(written::add);
      }
    }
    assertTrue(written.size() >= 6, written.toString()); // 3 + index, config and 2+ shards
    for (Path file : written) {
      assertEquals(plain, Files.getPosixFilePermissions(file), file.toString());
    }
  }
}
