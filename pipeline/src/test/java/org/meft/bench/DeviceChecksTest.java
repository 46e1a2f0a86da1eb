package org.meft.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.meft.testing.Shared;

/**
 * The GPU bundle's checks, run on the CPU at the quick bench shape: every check passes, the golden
 * generation equals llama2.c's text, the transfers return the bytes sent, and the parallel
 * adapter's accounted device bytes cover its own parameters.
 */
class DeviceChecksTest {

  @Test
  void everyCheckPassesOnTheCpu() {
    int size = 1024;
    BenchConfig quick = BenchConfig.quick();
    BenchConfig checked = quick.with(List.of(size), 1, 1);
    DeviceChecks.Options options =
        new DeviceChecks.Options(
            Shared.require("models/stories260K-hf"),
            Shared.require("golden/stories260K-greedy.json"),
            checked,
            1L << 30,
            false);
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    JsonObject json =
        DeviceChecks.runAll(options, new PrintStream(log, true, StandardCharsets.UTF_8));
    assertEquals(0, json.get("failed").getAsInt(), () -> json + "\n" + log);

    assertEquals("cpu()", json.getAsJsonObject("device").get("default_device").getAsString());
    assertTrue(json.getAsJsonObject("golden").get("all_equal").getAsBoolean());

    JsonObject transfer = json.getAsJsonObject("transfer");
    assertTrue(transfer.get("round_trip_exact").getAsBoolean());
    for (String name : List.of("h2d", "h2d_engine", "d2h", "d2d_copy")) {
      assertTrue(
          transfer.getAsJsonObject("cases").getAsJsonObject(name).get("gb_per_s").getAsDouble() > 0,
          name);
    }

    for (String steps : List.of("steps-f32", "steps-f16")) {
      Map<String, JsonObject> byMethod = new HashMap<>();
      for (JsonElement result : json.getAsJsonObject(steps).getAsJsonArray("results")) {
        byMethod.put(
            result.getAsJsonObject().get("method").getAsString(), result.getAsJsonObject());
      }
      // every variant of the step bench: each method, and meft made reversible (MEFT1/2/3)
      assertEquals(StepBench.variants(checked).size(), byMethod.size(), steps);
      assertTrue(byMethod.keySet().containsAll(List.of("lora", "meft", "parallel")), steps);
      // parallel's keys and values, float32, in every layer: a lower bound on what it accounts
      long parameters = 2L * size * quick.model().dim() * Float.BYTES * quick.model().nLayers();
      JsonObject parallel = byMethod.get("parallel");
      assertTrue(
          parallel.get("accounted_device_adapter_bytes").getAsLong() >= parameters,
          parallel::toString);
      assertTrue(
          parallel.get("device_memory_peak_bytes").getAsLong()
              >= parallel.get("device_memory_before_bytes").getAsLong());
      assertTrue(
          json.getAsJsonObject(steps)
                  .getAsJsonObject("ratios")
                  .get("meft_over_parallel_step")
                  .getAsDouble()
              > 0);
    }
  }

  @Test
  void refusesAnUnknownCheckNamingIt() {
    IllegalArgumentException error =
        org.junit.jupiter.api.Assertions.assertThrows(
            IllegalArgumentException.class,
            () -> DeviceChecks.parse(new String[] {"--out", "x.json", "--check", "gpu"}));
    assertTrue(error.getMessage().contains("--check"), error.getMessage());
    assertTrue(error.getMessage().contains("'gpu'"), error.getMessage());
  }
}
