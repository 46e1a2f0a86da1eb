package org.meft.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The report's arithmetic on given figures (no timing here): each ratio is the quotient of the
 * figures it names, judged against its target, and the JSON and the table carry every one.
 */
class BenchReportTest {
  private static final BenchConfig CONFIG = BenchConfig.quick(); // sizes 1,024, 4,096, 16,384

  private static Sample seconds(double median) {
    return new Sample(median, median * 0.9, median * 1.1, 3);
  }

  private static StepResult step(
      String method, int size, double stepS, long deviceBytes, double h2d, double retrieveMs) {
    Map<String, Double> phases = new LinkedHashMap<>();
    if (method.equals("meft")) {
      phases.put("retrieve", retrieveMs);
    }
    phases.put("rest", stepS * 1e3 - retrieveMs);
    return new StepResult(
        method,
        size,
        seconds(stepS),
        1000 / stepS,
        deviceBytes,
        0,
        h2d,
        h2d,
        method.equals("meft") ? CONFIG.maxRows() : size,
        phases,
        7f,
        6.9f);
  }

  /**
   * Kernel medians: scoring 4 ms (3 ms with the keys in cache, 1 ms of key read) beside a 2 ms
   * matmul; the copy twice as fast as gather.
   */
  private static KernelBench.Result kernels() {
    return new KernelBench.Result(
        CONFIG.kernels(),
        2,
        2,
        seconds(0.004),
        seconds(0.001),
        seconds(0.003),
        seconds(0.005),
        seconds(0.002),
        seconds(0.002),
        seconds(0.003),
        seconds(0.010),
        seconds(0.001));
  }

  private static BenchReport report(long meftLargeBytes, double meftLargeRetrieveMs) {
    return report(CONFIG, meftLargeBytes, meftLargeRetrieveMs);
  }

  private static BenchReport report(
      BenchConfig config, long meftLargeBytes, double meftLargeRetrieveMs) {
    return report(config, meftLargeBytes, meftLargeRetrieveMs, 640_000);
  }

  private static BenchReport report(
      BenchConfig config,
      long meftLargeBytes,
      double meftLargeRetrieveMs,
      long parallelLargeBytes) {
    List<StepResult> steps =
        List.of(
            step("lora", 0, 0.10, 1_000, 0, 0),
            step("meft", 1024, 0.12, 10_000, 500, 2),
            step("meft", 4096, 0.13, 10_200, 500, 4),
            step("meft", 16384, 0.14, meftLargeBytes, 520, meftLargeRetrieveMs),
            step("parallel", 1024, 0.10, 40_000, 0, 0),
            step("parallel", 16384, 1.50, parallelLargeBytes, 0, 0));
    return new BenchReport(config, Map.of("cpu", "test"), steps, kernels(), 1.0);
  }

  private static Map<String, BenchReport.Ratio> byName(BenchReport report) {
    Map<String, BenchReport.Ratio> out = new LinkedHashMap<>();
    report.ratios().forEach(r -> out.put(r.name(), r));
    return out;
  }

  @Test
  void ratiosAreTheQuotientsOfTheirFigures() {
    Map<String, BenchReport.Ratio> r = byName(report(10_500, 8));
    assertEquals(0.5, r.get("scoring_over_matmul").value(), 1e-12);
    assertTrue(r.get("scoring_over_matmul").met());
    assertEquals(0.25, r.get("key_read_share_of_scoring").value(), 1e-12);
    assertEquals(2.0 / 3, r.get("scoring_keys_in_cache_over_matmul").value(), 1e-12);
    assertEquals(0.5, r.get("gather_over_copy").value(), 1e-12);
    assertEquals(1.05, r.get("meft_device_bytes_16384_over_1024").value(), 1e-12);
    assertTrue(r.get("meft_device_bytes_16384_over_1024").met());
    assertEquals(1.04, r.get("meft_h2d_16384_over_1024").value(), 1e-12);
    assertTrue(r.get("meft_h2d_16384_over_1024").met());
    assertEquals(4.0, r.get("meft_retrieve_ms_16384_over_1024").value(), 1e-12);
    assertTrue(r.get("meft_retrieve_ms_16384_over_1024").met());
    assertEquals(16.0, r.get("parallel_device_bytes_16384_over_1024").value(), 1e-12);
    assertEquals(0.14 / 1.50, r.get("meft16384_over_parallel16384_step").value(), 1e-12);
    assertEquals(1.3, r.get("meft4096_over_lora_step").value(), 1e-12);
    assertTrue(r.get("meft4096_over_lora_step").met());
  }

  @Test
  void targetsRefuseWhatTheyShould() {
    Map<String, BenchReport.Ratio> r = byName(report(11_500, 32));
    assertFalse(r.get("meft_device_bytes_16384_over_1024").met(), "device bytes grew 15%");
    assertFalse(r.get("meft_retrieve_ms_16384_over_1024").met(), "retrieval grew like N");
  }

  @Test
  void aQuickRunJudgesOnlyTheTargetsItsShapesCanMeet() {
    // Device bytes grew 15% and retrieval like N: targets of the full run's shapes only.
    BenchReport quick = report(11_500, 32);
    Map<String, BenchReport.Ratio> r = byName(quick);
    assertFalse(r.get("meft_device_bytes_16384_over_1024").met());
    assertFalse(quick.judges(r.get("meft_device_bytes_16384_over_1024")));
    assertFalse(quick.judges(r.get("meft_retrieve_ms_16384_over_1024")));
    assertFalse(quick.judges(r.get("scoring_over_matmul")));
    assertTrue(quick.judges(r.get("meft_rows_per_layer_over_max_rows")));
    assertTrue(quick.judges(r.get("parallel_device_bytes_16384_over_1024")));
    assertEquals(List.of(), quick.failedTargets());
    // A parallel adapter whose bytes do not grow with N fails in any run.
    assertEquals(
        List.of("parallel_device_bytes_16384_over_1024"),
        report(CONFIG, 10_500, 8, 40_000).failedTargets().stream()
            .map(BenchReport.Ratio::name)
            .toList());

    BenchConfig fullShaped =
        new BenchConfig(
            "full",
            CONFIG.model(),
            CONFIG.batchSize(),
            CONFIG.seqLen(),
            CONFIG.sizes(),
            CONFIG.topK(),
            CONFIG.probes(),
            CONFIG.maxRows(),
            CONFIG.loraRank(),
            CONFIG.warmupSteps(),
            CONFIG.timedSteps(),
            CONFIG.kernels());
    List<String> fullFailures =
        report(fullShaped, 11_500, 32).failedTargets().stream()
            .map(BenchReport.Ratio::name)
            .toList();
    assertTrue(fullFailures.contains("meft_device_bytes_16384_over_1024"), fullFailures.toString());
    assertTrue(fullFailures.contains("meft_retrieve_ms_16384_over_1024"), fullFailures.toString());

    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    quick.printTable(new PrintStream(bytes, true, StandardCharsets.UTF_8));
    String table = bytes.toString(StandardCharsets.UTF_8);
    assertTrue(table.contains("no (the full run judges)"), table);
    assertTrue(table.contains("targets this run judges are met; "), table);
  }

  @Test
  void jsonAndTableCarryEveryRatio() {
    BenchReport report = report(10_500, 8);
    JsonObject json = JsonParser.parseString(report.toJson().toString()).getAsJsonObject();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    report.printTable(new PrintStream(bytes, true, StandardCharsets.UTF_8));
    String table = bytes.toString(StandardCharsets.UTF_8);
    for (BenchReport.Ratio ratio : report.ratios()) {
      assertEquals(
          ratio.value(), json.getAsJsonObject("ratios").get(ratio.name()).getAsDouble(), 0);
      assertEquals(
          ratio.met(),
          json.getAsJsonObject("targets").getAsJsonObject(ratio.name()).get("met").getAsBoolean());
      assertTrue(table.contains(ratio.name()), ratio.name());
    }
    assertEquals(6, json.getAsJsonArray("steps").size());
    assertTrue(json.getAsJsonObject("kernels").has("key_read"));
  }
}
