package org.meft.jobs.report;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.meft.datasets.InvalidRecordException;
import org.meft.datasets.JsonFields;
import org.meft.datasets.RejectReason;
import org.meft.format.LineReader;

/**
 * A JSON Lines predictions file, read and checked whole in the driver before any scoring: each line
 * one strict JSON object of UTF-8 text with {@code id} (a string or an integer), {@code prediction}
 * (a string or a number, taken as written; null or absent is no prediction) and optionally {@code
 * references} (a list of strings or one string, read for each row on its own). A bad line is one
 * {@code file:line: reason}. Spark's own JSON reader would merge the rows' types (a list of
 * references in a file that also has string ones became its JSON text) and refuse strings over
 * Jackson's 20 million characters.
 */
final class PredictionLines {
  /** The rows' schema; {@code references} is null where a line gave none. */
  static final StructType SCHEMA =
      new StructType()
          .add("id", DataTypes.StringType, false)
          .add("prediction", DataTypes.StringType, true)
          .add("references", DataTypes.createArrayType(DataTypes.StringType, false), true);

  /** The longest line read: far past any prediction, short of what one Java string holds. */
  static final int MAX_LINE_BYTES = 1 << 28;

  private static final Pattern COLUMN = Pattern.compile("line \\d+ column (\\d+)");

  private PredictionLines() {}

  /** The rows of {@code file}, in its order. */
  static List<Row> read(Path file) {
    List<Row> rows = new ArrayList<>();
    try (LineReader lines = LineReader.open(file, MAX_LINE_BYTES)) {
      String line;
      while ((line = lines.next()) != null) {
        if (line.isBlank()) {
          continue;
        }
        try {
          rows.add(row(object(line)));
        } catch (InvalidRecordException e) {
          throw new IllegalArgumentException(lines.where() + e.getMessage());
        }
      }
    }
    if (rows.isEmpty()) {
      throw new IllegalArgumentException(file + ": no predictions (the file has no lines)");
    }
    return rows;
  }

  private static JsonObject object(String line) throws InvalidRecordException {
    try (JsonReader reader = new JsonReader(new StringReader(line))) {
      reader.setStrictness(Strictness.STRICT);
      JsonElement element = JsonParser.parseReader(reader);
      if (reader.peek() != JsonToken.END_DOCUMENT) {
        throw notJson("text after the JSON object");
      }
      if (!element.isJsonObject()) {
        throw notJson("not a JSON object but " + JsonFields.describe(element));
      }
      return element.getAsJsonObject();
    } catch (JsonParseException | IOException | IllegalStateException e) {
      throw notJson("not valid JSON (" + reason(e) + ")");
    }
  }

  /** Gson's reason without its advice: "... malformed JSON at line 1 column 8 path $.id". */
  private static String reason(Exception e) {
    Throwable cause = e.getCause() != null ? e.getCause() : e;
    String message = String.valueOf(cause.getMessage()).lines().findFirst().orElse("");
    Matcher column = COLUMN.matcher(message);
    return column.find() ? "at column " + column.group(1) : message;
  }

  private static InvalidRecordException notJson(String message) {
    return new InvalidRecordException(RejectReason.MALFORMED_JSON, message);
  }

  private static Row row(JsonObject json) throws InvalidRecordException {
    return RowFactory.create(
        JsonFields.key(json, "id"), prediction(json.get("prediction")), references(json));
  }

  private static String prediction(JsonElement value) throws InvalidRecordException {
    if (value == null || value.isJsonNull()) {
      return null;
    }
    if (value instanceof JsonPrimitive primitive
        && (primitive.isString() || primitive.isNumber())) {
      return primitive.getAsString();
    }
    throw JsonFields.wrongType("prediction", value, "a string, a number or null");
  }

  private static String[] references(JsonObject json) throws InvalidRecordException {
    JsonElement value = json.get("references");
    if (value == null || value.isJsonNull()) {
      return null;
    }
    if (value.isJsonArray()) {
      JsonArray array = value.getAsJsonArray();
      String[] references = new String[array.size()];
      for (int i = 0; i < references.length; i++) {
        references[i] = JsonFields.stringValue(array.get(i), "references[" + i + "]");
      }
      return references;
    }
    return new String[] {JsonFields.stringValue(value, "references")};
  }
}
