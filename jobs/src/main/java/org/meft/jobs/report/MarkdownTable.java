package org.meft.jobs.report;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.Row;

/** The report's results as a Markdown table, one row per run, for the terminal and the docs. */
public final class MarkdownTable {
  private static final String[] HEADER = {
    "dataset",
    "method",
    "run",
    "split",
    "metric",
    "score",
    "examples",
    "unparsed",
    "forgetting KL / changed",
    "trainable params",
    "device adapter",
    "host store",
    "train tok/s",
    "loss",
    "device"
  };

  private MarkdownTable() {}

  /** The table of {@code rows} (columns of {@link ReportJob}'s results). */
  public static String of(List<Row> rows) {
    List<String[]> cells = new ArrayList<>();
    for (Row row : rows) {
      cells.add(
          new String[] {
            row.getAs("dataset"),
            row.getAs("method"),
            row.getAs("run_id"),
            cell(row, "split", "%s"),
            row.getAs("metric"),
            row.isNullAt(row.fieldIndex("quality"))
                ? "-"
                : String.format(Locale.ROOT, "%.3f", row.<Double>getAs("quality")),
            cell(row, "examples_evaluated", "%d"),
            cell(row, "unparsed", "%d"),
            forgetting(row),
            cell(row, "trainable_params", "%,d"),
            bytes(row.getAs("device_adapter_bytes_peak")),
            bytes(row.getAs("host_store_bytes")),
            cell(row, "train_tokens_per_second", "%,.0f"),
            loss(row),
            cell(row, "device", "%s")
          });
    }
    int[] widths = new int[HEADER.length];
    for (int i = 0; i < HEADER.length; i++) {
      widths[i] = HEADER[i].length();
      for (String[] line : cells) {
        widths[i] = Math.max(widths[i], line[i].length());
      }
    }
    StringBuilder table = new StringBuilder();
    line(table, HEADER, widths);
    String[] rule = new String[HEADER.length];
    for (int i = 0; i < rule.length; i++) {
      rule[i] = "-".repeat(widths[i]);
    }
    line(table, rule, widths);
    cells.forEach(line -> line(table, line, widths));
    return table.toString();
  }

  /**
   * The value formatted, or an empty cell when it is null (e.g. a run without training metrics).
   */
  static String cell(Row row, String column, String format) {
    int index = row.fieldIndex(column);
    return row.isNullAt(index) ? "" : String.format(Locale.ROOT, format, row.get(index));
  }

  private static String loss(Row row) {
    String initial = cell(row, "initial_loss", "%.3f");
    String last = cell(row, "final_loss", "%.3f");
    return initial.isEmpty() && last.isEmpty() ? "" : initial + " -> " + last;
  }

  /** "0.0123 / 45.6%": the mean KL and the share of the base's story text changed. */
  private static String forgetting(Row row) {
    String kl = cell(row, "forgetting_kl", "%.4f");
    String changed =
        row.isNullAt(row.fieldIndex("forgetting_changed"))
            ? ""
            : String.format(Locale.ROOT, "%.1f%%", 100 * row.<Double>getAs("forgetting_changed"));
    return kl.isEmpty() && changed.isEmpty() ? "" : kl + " / " + changed;
  }

  private static void line(StringBuilder table, String[] cells, int[] widths) {
    table.append('|');
    for (int i = 0; i < cells.length; i++) {
      table.append(' ').append(cells[i]).append(" ".repeat(widths[i] - cells[i].length()));
      table.append(" |");
    }
    table.append('\n');
  }

  /** 1,536 -> "1.5 KiB". */
  static String bytes(Long value) {
    if (value == null) {
      return "";
    }
    String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
    double amount = value;
    int unit = 0;
    while (amount >= 1024 && unit < units.length - 1) {
      amount /= 1024;
      unit++;
    }
    return unit == 0 ? value + " B" : String.format(Locale.ROOT, "%.1f %s", amount, units[unit]);
  }
}
