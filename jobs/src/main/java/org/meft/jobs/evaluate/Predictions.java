package org.meft.jobs.evaluate;

import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/** The columns of the predictions the evaluation writes, one row per run and example. */
public final class Predictions {
  public static final String FORGETTING_KL = "forgetting_kl";
  public static final String FORGETTING_CHANGED = "forgetting_changed";

  public static final StructType SCHEMA =
      new StructType()
          .add("run_id", DataTypes.StringType, false)
          .add("dataset", DataTypes.StringType, false)
          // The split the example comes from: test, or train (recall of what the run trained on).
          .add("split", DataTypes.StringType, false)
          .add("id", DataTypes.StringType, false)
          .add("prediction", DataTypes.StringType, false)
          .add("references", DataTypes.createArrayType(DataTypes.StringType, false), false)
          .add("prompt_tokens", DataTypes.IntegerType, false)
          .add("generated_tokens", DataTypes.IntegerType, false)
          .add("stop_reason", DataTypes.StringType, false)
          // From its decoder call's start to this example's end.
          .add("latency_ms", DataTypes.DoubleType, false)
          // Its share of the decoder call's wall time: the call's time over the examples decoded
          // together (--decode-batch), so that tokens over the summed shares is the throughput.
          .add("decode_ms", DataTypes.DoubleType, false)
          // The run's forgetting (org.meft.forgetting.Forgetting), measured once per run: on the
          // rows of its first slice, null on the others and when not measured.
          .add(FORGETTING_KL, DataTypes.DoubleType, true)
          .add(FORGETTING_CHANGED, DataTypes.DoubleType, true);

  private Predictions() {}
}
