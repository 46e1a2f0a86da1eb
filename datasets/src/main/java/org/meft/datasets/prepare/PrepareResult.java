package org.meft.datasets.prepare;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * What a preparation run wrote: one line per dataset and split, the totals, and the time of each
 * stage. The numbers are those of the manifest.
 *
 * @param output the output directory
 * @param splits one line per dataset and split, in dataset order, train before test; rejected
 *     records whose split could not be decided appear under split {@code -}
 * @param units raw units read (each became a record or a rejection)
 * @param timings wall time of the stages
 */
public record PrepareResult(Path output, List<SplitSummary> splits, long units, Timings timings) {
  public PrepareResult {
    splits = List.copyOf(splits);
  }

  /**
   * One dataset and split.
   *
   * @param records records written
   * @param rejected records rejected (see {@code _rejected/})
   * @param tokens tokens written, BOS and EOS included
   * @param truncated records whose prompt was cut to fit the maximum length
   */
  public record SplitSummary(
      String dataset, String split, long records, long rejected, long tokens, long truncated) {}

  /**
   * Wall-clock seconds of each stage.
   *
   * @param read reading and validating the raw files
   * @param tokenize removing duplicate ids and tokenizing, {@code tokenized} records
   * @param write writing shards, rejections and the manifest
   * @param total the whole run, resolving inputs included
   */
  public record Timings(double read, double tokenize, long tokenized, double write, double total) {
    /** Records tokenized per second of the tokenization stage. */
    public double tokenizeRecordsPerSecond() {
      return tokenize > 0 ? tokenized / tokenize : 0;
    }
  }

  public long records() {
    return splits.stream().mapToLong(SplitSummary::records).sum();
  }

  public long rejected() {
    return splits.stream().mapToLong(SplitSummary::rejected).sum();
  }

  public long tokens() {
    return splits.stream().mapToLong(SplitSummary::tokens).sum();
  }

  public long truncated() {
    return splits.stream().mapToLong(SplitSummary::truncated).sum();
  }

  /** The summary table, one line per dataset and split, then the total and the timings. */
  public String table() {
    String format = "%-10s %-6s %10s %9s %12s %10s%n";
    StringBuilder table = new StringBuilder();
    table.append(
        String.format(
            Locale.ROOT, format, "dataset", "split", "records", "rejected", "tokens", "truncated"));
    for (SplitSummary line : splits) {
      table.append(
          String.format(
              Locale.ROOT,
              format,
              line.dataset(),
              line.split(),
              count(line.records()),
              count(line.rejected()),
              count(line.tokens()),
              count(line.truncated())));
    }
    table.append(
        String.format(
            Locale.ROOT,
            format,
            "total",
            "",
            count(records()),
            count(rejected()),
            count(tokens()),
            count(truncated())));
    table.append(
        String.format(
            Locale.ROOT,
            "read %.1f s, tokenize %.1f s (%,.0f records/s), write %.1f s, total %.1f s -> %s%n",
            timings.read(),
            timings.tokenize(),
            timings.tokenizeRecordsPerSecond(),
            timings.write(),
            timings.total(),
            output));
    return table.toString();
  }

  /** The same numbers as one JSON object. */
  public JsonObject toJson() {
    JsonObject json = new JsonObject();
    json.addProperty("output", output.toString());
    JsonArray lines = new JsonArray();
    for (SplitSummary line : splits) {
      JsonObject object = new JsonObject();
      object.addProperty("dataset", line.dataset());
      object.addProperty("split", line.split());
      object.addProperty("records", line.records());
      object.addProperty("rejected", line.rejected());
      object.addProperty("tokens", line.tokens());
      object.addProperty("truncated", line.truncated());
      lines.add(object);
    }
    json.add("splits", lines);
    JsonObject totals = new JsonObject();
    totals.addProperty("units", units);
    totals.addProperty("records", records());
    totals.addProperty("rejected", rejected());
    totals.addProperty("tokens", tokens());
    totals.addProperty("truncated", truncated());
    json.add("totals", totals);
    JsonObject seconds = new JsonObject();
    seconds.addProperty("read", round(timings.read()));
    seconds.addProperty("tokenize", round(timings.tokenize()));
    seconds.addProperty("write", round(timings.write()));
    seconds.addProperty("total", round(timings.total()));
    json.add("seconds", seconds);
    json.addProperty("tokenize_records_per_second", Math.round(timings.tokenizeRecordsPerSecond()));
    return json;
  }

  private static String count(long value) {
    return String.format(Locale.ROOT, "%,d", value);
  }

  private static double round(double seconds) {
    return Math.round(seconds * 1000) / 1000.0;
  }
}
