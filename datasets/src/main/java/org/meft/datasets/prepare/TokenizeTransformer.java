package org.meft.datasets.prepare;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamPair;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.meft.tokenizer.SequenceLayout;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction1;

/**
 * A Spark ML {@code Transformer} that tokenizes a prompt and a target column into one training
 * sequence per row ({@link TokenSequence}, by {@link SequenceLayout}'s rule, the one training and
 * evaluation apply): {@code [BOS] prompt target [EOS]} as {@code array<int>} ids, an {@code
 * array<tinyint>} loss mask (1 on target and EOS), the {@code int} length and a {@code boolean}
 * truncated flag, appended to the input columns.
 *
 * <p>The tokenizer is DJL's Hugging Face tokenizer over {@code tokenizerPath}, which must be
 * readable where the tasks run; it is loaded once per executor JVM ({@link TokenizerCache}), not
 * per row. Rows whose target does not fit {@code maxLength} are handled by {@code handleInvalid}:
 * {@code error} fails the job, {@code skip} drops them, {@code keep} keeps them with null ids and
 * mask and the length they would need. A null prompt counts as empty; a null target is invalid.
 */
public final class TokenizeTransformer extends Transformer implements DefaultParamsWritable {
  private static final long serialVersionUID = 1L;

  private final String uid;
  private final Param<String> promptCol;
  private final Param<String> targetCol;
  private final Param<String> idsCol;
  private final Param<String> maskCol;
  private final Param<String> lengthCol;
  private final Param<String> truncatedCol;
  private final Param<String> tokenizerPath;
  private final IntParam maxLength;
  private final Param<String> bosToken;
  private final Param<String> eosToken;
  private final Param<String> handleInvalid;

  public TokenizeTransformer() {
    this(Identifiable.randomUID("tokenize"));
  }

  public TokenizeTransformer(String uid) {
    this.uid = uid;
    promptCol = column("promptCol", "input column of prompts (string)");
    targetCol = column("targetCol", "input column of targets (string)");
    idsCol = column("idsCol", "output column of token ids (array<int>)");
    maskCol =
        column("maskCol", "output column of the loss mask, 1 on target and EOS (array<tinyint>)");
    lengthCol = column("lengthCol", "output column of sequence lengths (int)");
    truncatedCol = column("truncatedCol", "output column: prompt tokens were dropped (boolean)");
    tokenizerPath =
        new Param<>(
            this,
            "tokenizerPath",
            "path of a Hugging Face tokenizer.json (or its model folder), readable by the tasks",
            new Text(false));
    maxLength =
        new IntParam(
            this,
            "maxLength",
            "maximum sequence length in tokens, BOS and EOS included (>= 2)",
            ParamValidators.gtEq(2));
    bosToken = new Param<>(this, "bosToken", "token placed first; empty for none", new Text(true));
    eosToken =
        new Param<>(
            this,
            "eosToken",
            "token placed after the target and masked in; empty for none",
            new Text(true));
    handleInvalid =
        new Param<>(
            this,
            "handleInvalid",
            "rows whose target does not fit maxLength: error (fail), skip (drop) or keep (null ids)",
            ParamValidators.inArray(List.of("error", "skip", "keep")));
    setDefault(
        seq(
            promptCol.w("prompt"),
            targetCol.w("target"),
            idsCol.w("input_ids"),
            maskCol.w("loss_mask"),
            lengthCol.w("length"),
            truncatedCol.w("truncated"),
            maxLength.w(512),
            bosToken.w("<s>"),
            eosToken.w("</s>"),
            handleInvalid.w("error")));
  }

  /** Reads a transformer saved with {@code write().save(path)}. */
  public static MLReader<TokenizeTransformer> read() {
    return new DefaultParamsReader<>();
  }

  /** {@code read().load(path)}. */
  public static TokenizeTransformer load(String path) {
    return read().load(path);
  }

  @Override
  public String uid() {
    return uid;
  }

  public Param<String> promptCol() {
    return promptCol;
  }

  public String getPromptCol() {
    return getOrDefault(promptCol);
  }

  public TokenizeTransformer setPromptCol(String value) {
    return (TokenizeTransformer) set(promptCol, value);
  }

  public Param<String> targetCol() {
    return targetCol;
  }

  public String getTargetCol() {
    return getOrDefault(targetCol);
  }

  public TokenizeTransformer setTargetCol(String value) {
    return (TokenizeTransformer) set(targetCol, value);
  }

  public Param<String> idsCol() {
    return idsCol;
  }

  public String getIdsCol() {
    return getOrDefault(idsCol);
  }

  public TokenizeTransformer setIdsCol(String value) {
    return (TokenizeTransformer) set(idsCol, value);
  }

  public Param<String> maskCol() {
    return maskCol;
  }

  public String getMaskCol() {
    return getOrDefault(maskCol);
  }

  public TokenizeTransformer setMaskCol(String value) {
    return (TokenizeTransformer) set(maskCol, value);
  }

  public Param<String> lengthCol() {
    return lengthCol;
  }

  public String getLengthCol() {
    return getOrDefault(lengthCol);
  }

  public TokenizeTransformer setLengthCol(String value) {
    return (TokenizeTransformer) set(lengthCol, value);
  }

  public Param<String> truncatedCol() {
    return truncatedCol;
  }

  public String getTruncatedCol() {
    return getOrDefault(truncatedCol);
  }

  public TokenizeTransformer setTruncatedCol(String value) {
    return (TokenizeTransformer) set(truncatedCol, value);
  }

  public Param<String> tokenizerPath() {
    return tokenizerPath;
  }

  public String getTokenizerPath() {
    return getOrDefault(tokenizerPath);
  }

  public TokenizeTransformer setTokenizerPath(String value) {
    return (TokenizeTransformer) set(tokenizerPath, value);
  }

  public IntParam maxLength() {
    return maxLength;
  }

  public int getMaxLength() {
    return (Integer) getOrDefault(maxLength);
  }

  public TokenizeTransformer setMaxLength(int value) {
    return (TokenizeTransformer) set(maxLength, value);
  }

  public Param<String> bosToken() {
    return bosToken;
  }

  public String getBosToken() {
    return getOrDefault(bosToken);
  }

  public TokenizeTransformer setBosToken(String value) {
    return (TokenizeTransformer) set(bosToken, value);
  }

  public Param<String> eosToken() {
    return eosToken;
  }

  public String getEosToken() {
    return getOrDefault(eosToken);
  }

  public TokenizeTransformer setEosToken(String value) {
    return (TokenizeTransformer) set(eosToken, value);
  }

  public Param<String> handleInvalid() {
    return handleInvalid;
  }

  public String getHandleInvalid() {
    return getOrDefault(handleInvalid);
  }

  public TokenizeTransformer setHandleInvalid(String value) {
    return (TokenizeTransformer) set(handleInvalid, value);
  }

  @Override
  public StructType transformSchema(StructType schema) {
    for (String input : List.of(getPromptCol(), getTargetCol())) {
      if (!List.of(schema.fieldNames()).contains(input)) {
        throw new IllegalArgumentException(
            "input column '" + input + "' not found among " + List.of(schema.fieldNames()));
      }
      if (!schema.apply(input).dataType().equals(DataTypes.StringType)) {
        throw new IllegalArgumentException(
            "input column '" + input + "' must be a string, got " + schema.apply(input).dataType());
      }
    }
    List<StructField> fields = new ArrayList<>(List.of(schema.fields()));
    fields.add(
        DataTypes.createStructField(
            getIdsCol(), DataTypes.createArrayType(DataTypes.IntegerType, false), true));
    fields.add(
        DataTypes.createStructField(
            getMaskCol(), DataTypes.createArrayType(DataTypes.ByteType, false), true));
    fields.add(DataTypes.createStructField(getLengthCol(), DataTypes.IntegerType, false));
    fields.add(DataTypes.createStructField(getTruncatedCol(), DataTypes.BooleanType, false));
    for (StructField field : fields.subList(schema.size(), fields.size())) {
      if (List.of(schema.fieldNames()).contains(field.name())) {
        throw new IllegalArgumentException("output column '" + field.name() + "' already exists");
      }
    }
    return DataTypes.createStructType(fields);
  }

  @Override
  public Dataset<Row> transform(Dataset<?> dataset) {
    StructType output = transformSchema(dataset.schema());
    if (!isDefined(tokenizerPath)) {
      throw new IllegalArgumentException("tokenizerPath is not set");
    }
    // Fail on the driver, not in a task, when the tokenizer or its special tokens are unusable.
    TokenizerCache.Entry entry = TokenizerCache.get(getTokenizerPath());
    entry.idOf(getBosToken());
    entry.idOf(getEosToken());
    EncodePartition encode =
        new EncodePartition(
            getTokenizerPath(),
            getBosToken(),
            getEosToken(),
            getMaxLength(),
            getHandleInvalid(),
            dataset.schema().fieldIndex(getPromptCol()),
            dataset.schema().fieldIndex(getTargetCol()));
    return dataset.toDF().mapPartitions(encode, Encoders.row(output));
  }

  @Override
  public TokenizeTransformer copy(ParamMap extra) {
    return defaultCopy(extra);
  }

  private Param<String> column(String name, String doc) {
    return new Param<>(this, name, doc + "; non-empty", new Text(false));
  }

  private static Seq<ParamPair<?>> seq(ParamPair<?>... pairs) {
    return CollectionConverters.asScala(List.of(pairs)).toSeq();
  }

  /** The validator of texts: non-null, and non-empty unless {@code allowEmpty}. */
  private static final class Text extends AbstractFunction1<String, Object>
      implements Serializable {
    private static final long serialVersionUID = 1L;
    private final boolean allowEmpty;

    Text(boolean allowEmpty) {
      this.allowEmpty = allowEmpty;
    }

    @Override
    public Object apply(String value) {
      return value != null && (allowEmpty || !value.isEmpty());
    }
  }

  /** Tokenizes one partition's rows, with the tokenizer from the executor's cache. */
  private record EncodePartition(
      String tokenizerPath,
      String bosToken,
      String eosToken,
      int maxLength,
      String handleInvalid,
      int promptIndex,
      int targetIndex)
      implements MapPartitionsFunction<Row, Row> {
    @Override
    public Iterator<Row> call(Iterator<Row> rows) {
      TokenizerCache.Entry tokenizer = TokenizerCache.get(tokenizerPath);
      SequenceLayout layout =
          new SequenceLayout(tokenizer.idOf(bosToken), tokenizer.idOf(eosToken));
      return new Iterator<>() {
        private Row next = advance();

        @Override
        public boolean hasNext() {
          return next != null;
        }

        @Override
        public Row next() {
          Row current = next;
          next = advance();
          return current;
        }

        private Row advance() {
          while (rows.hasNext()) {
            Row row = rows.next();
            String prompt = row.isNullAt(promptIndex) ? "" : row.getString(promptIndex);
            TokenSequence sequence =
                row.isNullAt(targetIndex)
                    ? new TokenSequence(null, null, 0, false)
                    : TokenSequence.of(
                        layout.pack(
                            tokenizer.encode(prompt),
                            tokenizer.encode(row.getString(targetIndex)),
                            maxLength));
            if (!sequence.fits()) {
              if (handleInvalid.equals("skip")) {
                continue;
              }
              if (handleInvalid.equals("error")) {
                throw new IllegalArgumentException(
                    (row.isNullAt(targetIndex) ? "null target" : "target too long")
                        + ": the target needs "
                        + sequence.length()
                        + " tokens with BOS and EOS, maxLength is "
                        + maxLength
                        + " (set handleInvalid to skip or keep)");
              }
            }
            Object[] values = new Object[row.size() + 4];
            for (int i = 0; i < row.size(); i++) {
              values[i] = row.get(i);
            }
            values[row.size()] = sequence.ids();
            values[row.size() + 1] = sequence.lossMask();
            values[row.size() + 2] = sequence.length();
            values[row.size() + 3] = sequence.truncated();
            return RowFactory.create(values);
          }
          return null;
        }
      };
    }
  }
}
