package org.meft.datasets;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.util.ArrayList;
import java.util.List;

/**
 * Typed reads of JSON fields for the readers, each failing with the {@link RejectReason} and a
 * message that names the field: one set of rules for every dataset and every file type (a Parquet
 * row is read as the JSON object of its columns).
 */
public final class JsonFields {
  private JsonFields() {}

  /** A required, non-blank string. */
  public static String string(JsonObject object, String field) throws InvalidRecordException {
    String value = stringValue(required(object, field), field);
    if (value.isBlank()) {
      throw new InvalidRecordException(RejectReason.EMPTY_VALUE, "field '" + field + "' is empty");
    }
    return value;
  }

  /** An optional string: {@code fallback} when absent or null. */
  public static String optionalString(JsonObject object, String field, String fallback)
      throws InvalidRecordException {
    JsonElement element = object.get(field);
    return element == null || element.isJsonNull() ? fallback : stringValue(element, field);
  }

  /** A required string or integer, as text (for ids that some files write as numbers). */
  public static String key(JsonObject object, String field) throws InvalidRecordException {
    JsonElement element = required(object, field);
    if (element instanceof JsonPrimitive primitive && primitive.isNumber()) {
      String text = primitive.getAsString();
      if (!text.matches("-?\\d+")) {
        throw wrongType(field, element, "a string or an integer");
      }
      return text;
    }
    return string(object, field);
  }

  /** A required array. */
  public static JsonArray array(JsonObject object, String field) throws InvalidRecordException {
    JsonElement element = required(object, field);
    if (!element.isJsonArray()) {
      throw wrongType(field, element, "an array");
    }
    return element.getAsJsonArray();
  }

  /** A required object. */
  public static JsonObject object(JsonObject object, String field) throws InvalidRecordException {
    JsonElement element = required(object, field);
    if (!element.isJsonObject()) {
      throw wrongType(field, element, "an object");
    }
    return element.getAsJsonObject();
  }

  /**
   * A required, non-empty array of non-blank strings: the acceptable answers of a question. An
   * empty array is {@link RejectReason#EMPTY_ANSWERS}; a blank answer {@link
   * RejectReason#EMPTY_VALUE}.
   */
  public static List<String> answers(JsonObject object, String field)
      throws InvalidRecordException {
    return answers(array(object, field), field);
  }

  /** The non-blank strings of {@code array} (named {@code field} in messages), at least one. */
  public static List<String> answers(JsonArray array, String field) throws InvalidRecordException {
    if (array.isEmpty()) {
      throw new InvalidRecordException(
          RejectReason.EMPTY_ANSWERS, "empty answer list in field '" + field + "'");
    }
    List<String> values = new ArrayList<>(array.size());
    for (int i = 0; i < array.size(); i++) {
      String name = field + "[" + i + "]";
      String value = stringValue(array.get(i), name);
      if (value.isBlank()) {
        throw new InvalidRecordException(RejectReason.EMPTY_VALUE, "field '" + name + "' is empty");
      }
      values.add(value);
    }
    return values;
  }

  /** The string of {@code element}, or WRONG_TYPE naming {@code field}. */
  public static String stringValue(JsonElement element, String field)
      throws InvalidRecordException {
    if (element == null || element.isJsonNull()) {
      throw new InvalidRecordException(RejectReason.MISSING_FIELD, "missing field '" + field + "'");
    }
    if (!(element instanceof JsonPrimitive primitive && primitive.isString())) {
      throw wrongType(field, element, "a string");
    }
    return element.getAsString();
  }

  /** WRONG_TYPE: "field 'f' is a number, expected a string". */
  public static InvalidRecordException wrongType(
      String field, JsonElement element, String expected) {
    return new InvalidRecordException(
        RejectReason.WRONG_TYPE,
        "field '" + field + "' is " + describe(element) + ", expected " + expected);
  }

  /** The JSON type of {@code element} with its article: "a string", "an array", "null". */
  public static String describe(JsonElement element) {
    if (element == null || element.isJsonNull()) {
      return "null";
    }
    if (element.isJsonArray()) {
      return "an array";
    }
    if (element.isJsonObject()) {
      return "an object";
    }
    JsonPrimitive primitive = element.getAsJsonPrimitive();
    return primitive.isBoolean() ? "a boolean" : primitive.isNumber() ? "a number" : "a string";
  }

  private static JsonElement required(JsonObject object, String field)
      throws InvalidRecordException {
    JsonElement element = object.get(field);
    if (element == null || element.isJsonNull()) {
      throw new InvalidRecordException(RejectReason.MISSING_FIELD, "missing field '" + field + "'");
    }
    return element;
  }
}
