package org.meft.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.meft.TrainRows;
import org.meft.train.RunSpec;

/**
 * A meft checkpoint written before {@code train-rows} existed trained with the row cap: its run
 * reads back as {@code capped}, so that it resumes as it ran; a run that names the setting, and the
 * other methods, read as written.
 */
class ManifestTrainRowsTest {
  private static final String RUN =
      "{\"model\": \"m\", \"data\": \"d\", \"steps\": 2, \"batch-size\": 1, \"lr\": 0.01,"
          + " \"method\": \"%s\"%s}";

  @Test
  void aMeftRunWithoutTheSettingReadsAsCapped() {
    assertEquals(TrainRows.CAPPED, trainRows(read("meft", "")));
    assertEquals(TrainRows.ALL, trainRows(read("meft", ", \"train-rows\": \"all\"")), "as written");
    assertEquals(TrainRows.ALL, trainRows(RunSpec.fromJson(run("meft", ""))), "a new run");
    assertFalse(
        RunSpec.fromJson(CheckpointManifest.withTrainRows(run("lora", "")))
            .toSettings()
            .containsKey(MeftConfig.TRAIN_ROWS.name()));
  }

  private static RunSpec read(String method, String extra) {
    return RunSpec.fromJson(CheckpointManifest.withTrainRows(run(method, extra)));
  }

  private static JsonObject run(String method, String extra) {
    return JsonParser.parseString(String.format(RUN, method, extra)).getAsJsonObject();
  }

  private static TrainRows trainRows(RunSpec spec) {
    return ((MeftConfig) spec.adapter()).trainRows();
  }
}
