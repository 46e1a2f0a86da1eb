package org.meft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.meft.adapter.ComposedConfig;
import org.meft.adapter.LayerSelection;
import org.meft.adapter.lora.LoraConfig;
import org.meft.adapter.meft.KeySource;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.meft.TrainRows;
import org.meft.adapter.parallel.ParallelConfig;
import org.meft.store.StoreDtype;
import org.meft.store.StoreFormat;
import org.meft.store.StoreMoments;
import org.meft.store.StoreRate;

/** Settings -> RunSpec -> settings and JSON round trips, defaults, and errors naming the field. */
class RunSpecTest {
  private static Map<String, String> settings(String method, String... extra) {
    Map<String, String> s = new HashMap<>();
    s.put("model", "models/tiny");
    s.put("data", "pairs.jsonl");
    s.put("method", method);
    s.put("steps", "100");
    s.put("batch-size", "4");
    s.put("lr", "3e-4");
    for (int i = 0; i < extra.length; i += 2) {
      s.put(extra[i], extra[i + 1]);
    }
    return s;
  }

  @Test
  void defaultsAreWrittenOutAndRoundTrip() {
    for (String method :
        List.of("meft", "parallel", "lora", "full", "meft+lora", "meft+parallel")) {
      RunSpec spec = RunSpec.fromSettings(settings(method));
      assertEquals(spec, RunSpec.fromSettings(spec.toSettings()), method);
      JsonObject json = JsonParser.parseString(spec.toJson().toString()).getAsJsonObject();
      assertEquals(spec, RunSpec.fromJson(json), method);
      assertEquals(spec.toSettings().keySet(), json.keySet());
    }
    RunSpec meft = RunSpec.fromSettings(settings("meft"));
    assertEquals(
        new MeftConfig(
            4096,
            8,
            64,
            8,
            1024,
            0.02f,
            KeySource.RANDOM,
            new StoreRate(0f, 1f, StoreRate.Schedule.RUN, StoreRate.Frequency.NONE), // keys frozen
            TrainRows.ALL,
            StoreDtype.F32,
            StoreMoments.F32,
            meft.adapter().layers()),
        meft.adapter());
    assertEquals(TrainConfig.defaults(100, 4, 3e-4f), meft.train());
    assertEquals(16384L << 20, meft.hostBudgetBytes());
    assertEquals(0, meft.checkpointEvery());
    assertNull(meft.tokenizer());
    assertEquals(Path.of("models/tiny"), meft.baseModel());
    assertEquals(100, meft.toJson().get("steps").getAsInt());
    assertEquals("meft", meft.toJson().get("method").getAsString());
  }

  @Test
  void sweepJsonTakesNumbersStringsAndArrays() {
    JsonObject json =
        JsonParser.parseString(
                "{\"model\": \"m\", \"data\": \"d.jsonl\", \"method\": \"lora\", \"steps\": 10,"
                    + " \"batch-size\": 2, \"lr\": 0.001, \"lora-targets\": [\"q\", \"v\"],"
                    + " \"layers\": [0, 2], \"host-budget-mb\": 0.5, \"tokenizer\": null}")
            .getAsJsonObject();
    RunSpec spec = RunSpec.fromJson(json);
    LoraConfig lora = (LoraConfig) spec.adapter();
    assertEquals(Set.of("q", "v"), lora.projections());
    assertEquals(List.of(0, 2), lora.layers().resolve(3));
    assertEquals(1L << 19, spec.hostBudgetBytes());
    assertEquals(1e-3f, spec.train().learningRate());
  }

  @Test
  void aSweepRunNamesTheStoreLayout() {
    JsonObject json =
        JsonParser.parseString(
                "{\"model\": \"m\", \"data\": \"d.jsonl\", \"method\": \"meft\", \"steps\": 10,"
                    + " \"batch-size\": 2, \"lr\": 0.001, \"store-dtype\": \"bf16\","
                    + " \"store-moments\": \"int8\"}")
            .getAsJsonObject();
    MeftConfig meft = (MeftConfig) RunSpec.fromJson(json).adapter();
    assertEquals(new StoreFormat(StoreDtype.BF16, StoreMoments.INT8, false), meft.storeFormat());
    assertEquals("bf16", RunSpec.fromJson(json).toJson().get("store-dtype").getAsString());
    refused(
        settings("meft", "store-moments", "int4"), "store-moments: expected f32|int8, got 'int4'");
  }

  @Test
  void badSettingsAreRefusedNamingTheSetting() {
    refused(settings("meft", "top-k", "5000"), "top-k must be in [1, adapter-size=4096], got 5000");
    refused(settings("meft", "probes", "99"), "probes must be in [1, experts=64], got 99");
    refused(settings("meft", "max-rows", "4"), "max-rows must be in [top-k=8");
    refused(settings("meft", "lr", "fast"), "lr: expected a number, got 'fast'");
    refused(settings("meft", "steps", "0"), "steps must be in [1, 2147483647], got 0");
    refused(settings("meft", "batch-size", "0"), "batch-size must be in [1, 65536]");
    refused(settings("meft", "beta2", "1"), "beta2 must be in [0, 1), got 1.0");
    refused(settings("lora", "lora-targets", "q,x"), "lora-targets must be a non-empty subset");
    refused(settings("parallel", "top-k", "8"), "top-k: does not apply to method parallel");
    refused(settings("meft", "topk", "8"), "unknown setting 'topk'");
    refused(
        settings("sparse"),
        "method: must be meft, parallel, lora or full, or two of them joined by +, got 'sparse'");
    refused(
        settings("meft", "checkpoint-every", "-1"), "checkpoint-every must be in [0, 2147483647]");
    refused(settings("meft", "host-budget-mb", "lots"), "host-budget-mb: expected a number");
    Map<String, String> noData = settings("meft");
    noData.remove("data");
    refused(noData, "missing setting 'data'");
  }

  /**
   * A composition takes both methods' settings; a name both declare is the first's as written and
   * the second's after its method's name.
   */
  @Test
  void aCompositionTakesBothMethodsSettingsTheSecondsClashesPrefixed() {
    RunSpec meftLora =
        RunSpec.fromSettings(settings("meft+lora", "adapter-size", "256", "lora-rank", "4"));
    ComposedConfig both = (ComposedConfig) meftLora.adapter();
    assertEquals(256, ((MeftConfig) both.first()).adapterSize());
    assertEquals(4, ((LoraConfig) both.second()).rank());
    assertEquals("adapter-size", meftLora.adapter().method().sizeSetting().orElseThrow().name());
    assertEquals(Set.of(), prefixed(meftLora));

    RunSpec meftParallel =
        RunSpec.fromSettings(
            settings(
                "meft+parallel",
                "adapter-size",
                "256",
                "parallel.adapter-size",
                "8",
                "parallel.key-init",
                "0.5"));
    ComposedConfig fused = (ComposedConfig) meftParallel.adapter();
    assertEquals(
        new MeftConfig(
            256,
            8,
            16,
            8,
            256,
            0.02f,
            KeySource.RANDOM,
            new StoreRate(0f, 1f, StoreRate.Schedule.RUN, StoreRate.Frequency.NONE), // keys frozen
            TrainRows.ALL,
            StoreDtype.F32,
            StoreMoments.F32,
            LayerSelection.ALL),
        fused.first());
    assertEquals(new ParallelConfig(8, 0.5f, LayerSelection.ALL), fused.second());
    assertEquals(Set.of("parallel.adapter-size", "parallel.key-init"), prefixed(meftParallel));
    assertEquals("8", meftParallel.toJson().get("parallel.adapter-size").getAsString());

    RunSpec parallelMeft =
        RunSpec.fromSettings(settings("parallel+meft", "meft.adapter-size", "128"));
    assertEquals(
        128, ((MeftConfig) ((ComposedConfig) parallelMeft.adapter()).second()).adapterSize());
  }

  private static Set<String> prefixed(RunSpec spec) {
    Set<String> names = new TreeSet<>(spec.toSettings().keySet());
    names.removeIf(name -> !name.contains("."));
    return names;
  }

  @Test
  void compositionsAreRefusedNamingWhy() {
    refused(settings("meft+full"), "method meft+full: full composes with no other method");
    refused(settings("meft+meft"), "a method composes with another method, not with itself");
    refused(settings("meft+lora+parallel"), "at most two methods compose");
    refused(settings("meft+sparse"), "got 'sparse'");
    refused(
        settings("meft+lora", "parallel.adapter-size", "8"),
        "parallel.adapter-size: does not apply to method meft+lora");
    refused(
        settings("meft+parallel", "parallel.adapter-size", "0"),
        "parallel of meft+parallel: adapter-size must be");
    refused(settings("meft+lora", "lora-rank", "0"), "lora of meft+lora: lora-rank must be");
    refused(settings("meft+lora", "top-k", "5000"), "top-k must be in [1, adapter-size=4096]");
  }

  private static void refused(Map<String, String> settings, String expected) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> RunSpec.fromSettings(settings));
    assertTrue(e.getMessage().contains(expected), e.getMessage());
  }
}
