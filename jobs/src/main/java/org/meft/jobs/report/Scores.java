package org.meft.jobs.report;

import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF3;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.meft.datasets.Datasets;
import org.meft.datasets.metric.Metric;

/**
 * The SQL function {@code meft_score(dataset, prediction, references)}: the dataset's metric
 * ({@link org.meft.datasets.Dataset#metric}) on one prediction, as a struct with one field per
 * metric name of any dataset (the fields that are not the dataset's are null) and {@code unparsed}
 * (1 when the metric could not read the prediction, which then scored 0). It never fails on a
 * prediction's content ({@link Metric#scoreSafely}).
 */
public final class Scores {
  public static final String FUNCTION = "meft_score";

  /** Every metric name of every dataset, in dataset order. */
  public static final List<String> NAMES =
      Datasets.ALL.stream().flatMap(d -> d.metric().names().stream()).distinct().toList();

  /** The struct's field that counts predictions the metric could not parse. */
  public static final String UNPARSED = "unparsed";

  public static final StructType TYPE = type();

  private Scores() {}

  private static StructType type() {
    StructType type = new StructType();
    for (String name : NAMES) {
      type = type.add(name, DataTypes.DoubleType, true);
    }
    return type.add(UNPARSED, DataTypes.IntegerType, false);
  }

  /** Registers {@link #FUNCTION} with {@code spark}. */
  public static void register(SparkSession spark) {
    UDF3<String, String, scala.collection.Seq<String>, Row> score =
        (dataset, prediction, references) ->
            score(
                dataset,
                prediction,
                references == null
                    ? List.of()
                    : scala.jdk.javaapi.CollectionConverters.asJava(references));
    spark.udf().register(FUNCTION, score, TYPE);
  }

  /** The struct value for one prediction. */
  public static Row score(String dataset, String prediction, List<String> references) {
    Metric metric = Datasets.byName(dataset).metric();
    Metric.Score score = metric.scoreSafely(prediction, references);
    Object[] fields = new Object[NAMES.size() + 1];
    for (int i = 0; i < score.values().length; i++) {
      fields[NAMES.indexOf(metric.names().get(i))] = score.values()[i];
    }
    fields[NAMES.size()] = score.unparsed() ? 1 : 0;
    return RowFactory.create(fields);
  }

  /**
   * The SQL expression of the headline metric (the metric's first value) of the dataset named in
   * {@code datasetColumn}, taken from the columns under {@code prefix}.
   */
  public static String qualityExpression(String datasetColumn, String prefix) {
    StringBuilder sql = new StringBuilder("CASE " + datasetColumn);
    Datasets.ALL.forEach(
        d ->
            sql.append(" WHEN '")
                .append(d.name())
                .append("' THEN ")
                .append(prefix)
                .append(d.metric().names().get(0)));
    return sql.append(" END").toString();
  }

  /**
   * The SQL expression of the headline metric's label (as its users know it, {@link Metric#labels})
   * of the dataset in {@code datasetColumn}.
   */
  public static String qualityNameExpression(String datasetColumn) {
    StringBuilder sql = new StringBuilder("CASE " + datasetColumn);
    Datasets.ALL.forEach(
        d ->
            sql.append(" WHEN '")
                .append(d.name())
                .append("' THEN '")
                .append(d.metric().labels().get(0))
                .append("'"));
    return sql.append(" END").toString();
  }
}
