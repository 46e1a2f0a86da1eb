package org.meft.jobs.train;

import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.meft.reversible.ReversibleConfig;
import org.meft.train.RunSpec;
import org.meft.train.TrainResult;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The metrics row of one trained run: the sweep's identity columns, where and how it ran, and the
 * engine's measurements ({@link TrainResult#toJson}'s fields, same names), with the whole loss
 * curve. Written as {@code metrics/} (Parquet) and {@code metrics.jsonl} under the sweep's output.
 */
public final class RunMetrics {
  /** The engine's fields, by their {@code bin/meft train --json} names. */
  private static final Map<String, DataType> ENGINE = engineFields();

  /** The columns, in order. */
  public static final StructType SCHEMA = schema();

  private RunMetrics() {}

  private static Map<String, DataType> engineFields() {
    Map<String, DataType> fields = new LinkedHashMap<>();
    fields.put("initial_loss", DataTypes.DoubleType);
    fields.put("final_loss", DataTypes.DoubleType);
    fields.put("steps", DataTypes.IntegerType);
    fields.put("skipped_steps", DataTypes.IntegerType);
    fields.put("tokens_per_second", DataTypes.DoubleType);
    fields.put("trainable_params", DataTypes.LongType);
    fields.put("device_adapter_bytes_peak", DataTypes.LongType);
    fields.put("device_base_bytes", DataTypes.LongType);
    fields.put("host_store_bytes", DataTypes.LongType);
    fields.put("h2d_bytes_per_step", DataTypes.DoubleType);
    fields.put("d2h_bytes_per_step", DataTypes.DoubleType);
    fields.put("mean_rows_per_layer", DataTypes.DoubleType);
    fields.put("mean_distinct_rows_per_layer", DataTypes.DoubleType);
    fields.put("kept_choice_fraction", DataTypes.DoubleType);
    fields.put("rows_updated_fraction", DataTypes.DoubleType);
    fields.put("mean_updates_per_updated_row", DataTypes.DoubleType);
    fields.put("expert_load_entropy", DataTypes.DoubleType);
    fields.put("activation_bytes_kept", DataTypes.LongType);
    fields.put("recompute_share", DataTypes.DoubleType);
    return fields;
  }

  private static StructType schema() {
    List<StructField> fields = new ArrayList<>();
    fields.add(DataTypes.createStructField("run_id", DataTypes.StringType, false));
    fields.add(DataTypes.createStructField("dataset", DataTypes.StringType, false));
    fields.add(DataTypes.createStructField("method", DataTypes.StringType, false));
    fields.add(DataTypes.createStructField("adapter_size", DataTypes.IntegerType, true));
    fields.add(DataTypes.createStructField("lora_rank", DataTypes.IntegerType, true));
    fields.add(DataTypes.createStructField("reversible", DataTypes.StringType, false));
    fields.add(DataTypes.createStructField("model", DataTypes.StringType, false));
    fields.add(DataTypes.createStructField("tokenizer", DataTypes.StringType, true));
    // Relative to the sweep's output (runs/ID), so that a sweep can be copied or moved.
    fields.add(DataTypes.createStructField("run_dir", DataTypes.StringType, false));
    fields.add(DataTypes.createStructField("examples", DataTypes.IntegerType, false));
    fields.add(DataTypes.createStructField("examples_too_long", DataTypes.IntegerType, false));
    fields.add(DataTypes.createStructField("device", DataTypes.StringType, false));
    fields.add(DataTypes.createStructField("executor", DataTypes.StringType, false));
    fields.add(DataTypes.createStructField("attempt", DataTypes.IntegerType, false));
    fields.add(DataTypes.createStructField("resumed_from_step", DataTypes.IntegerType, false));
    fields.add(DataTypes.createStructField("wall_seconds", DataTypes.DoubleType, false));
    ENGINE.forEach((name, type) -> fields.add(DataTypes.createStructField(name, type, true)));
    fields.add(
        DataTypes.createStructField(
            "losses", DataTypes.createArrayType(DataTypes.DoubleType, true), false));
    fields.add(
        DataTypes.createStructField(
            "phase_ms",
            DataTypes.createMapType(DataTypes.StringType, DataTypes.DoubleType, false),
            false));
    fields.add(DataTypes.createStructField("settings", DataTypes.StringType, false));
    return DataTypes.createStructType(fields);
  }

  /** What the task knows besides the engine's result. */
  public record Context(
      SweepRun run,
      RunSpec spec,
      String runDir,
      int examples,
      int examplesTooLong,
      TaskPlace place,
      int resumedFromStep,
      double wallSeconds) {}

  /** The row of one finished run. */
  public static Row row(Context context, TrainResult result) {
    Map<String, String> settings = context.spec().toSettings();
    List<Object> values = new ArrayList<>();
    values.add(context.run().id());
    values.add(context.run().dataset());
    values.add(context.spec().adapter().method().name());
    values.add(integerOrNull(settings.get("adapter-size")));
    values.add(integerOrNull(settings.get("lora-rank")));
    values.add(settings.getOrDefault(ReversibleConfig.REVERSIBLE.name(), "none"));
    values.add(context.spec().baseModel().toString());
    values.add(context.spec().tokenizer() == null ? null : context.spec().tokenizer().toString());
    values.add(context.runDir());
    values.add(context.examples());
    values.add(context.examplesTooLong());
    values.add(context.place().device());
    values.add(context.place().executor());
    values.add(context.place().attempt());
    values.add(context.resumedFromStep());
    values.add(context.wallSeconds());
    JsonObject json = result.toJson();
    ENGINE.forEach(
        (name, type) -> {
          if (!json.has(name) || json.get(name).isJsonNull()) {
            values.add(null);
          } else if (type == DataTypes.IntegerType) {
            values.add(json.get(name).getAsInt());
          } else if (type == DataTypes.LongType) {
            values.add(json.get(name).getAsLong());
          } else {
            values.add(json.get(name).getAsDouble());
          }
        });
    List<Double> losses = new ArrayList<>();
    result.losses().forEach(loss -> losses.add(loss.doubleValue()));
    // Scala collections: Spark's row encoder takes them for array and map columns.
    values.add(CollectionConverters.asScala(losses).toSeq());
    values.add(scala.collection.immutable.Map.from(CollectionConverters.asScala(result.phaseMs())));
    values.add(context.spec().toJson().toString());
    return RowFactory.create(values.toArray());
  }

  private static Integer integerOrNull(String value) {
    return value == null ? null : Integer.valueOf(value);
  }
}
