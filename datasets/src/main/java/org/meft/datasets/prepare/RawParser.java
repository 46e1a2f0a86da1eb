package org.meft.datasets.prepare;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;
import org.meft.datasets.Dataset;
import org.meft.datasets.InvalidRecordException;
import org.meft.datasets.JsonFields;
import org.meft.datasets.Record;
import org.meft.datasets.RejectReason;
import org.meft.datasets.Split;
import org.meft.datasets.UnitSink;

/**
 * Reads the raw units of one file into {@link Parsed} outcomes, never throwing for bad input: each
 * unit read becomes exactly one record or one rejection.
 *
 * <p>JSON Lines: each non-blank line is a unit ({@code line N}, 1-based); a line that is not valid
 * UTF-8 or not strict JSON (RFC 8259: no comments, single quotes, NaN or trailing text) is rejected
 * alone. JSON documents are read as a stream, one element of the record array at a time ({@link
 * Dataset#documentArray}, then {@link Dataset#explode}); a syntax error rejects the rest of the
 * file as one unit, since JSON cannot be resynchronised. Invalid UTF-8 in a document rejects the
 * units whose text holds the undecodable bytes. Parquet rows arrive as JSON text ({@link
 * #parseUnit}). A leading byte order mark is ignored.
 */
final class RawParser implements UnitSink {
  private final SourceFile source;
  private final Dataset dataset;
  private final double testFraction;
  private final Consumer<Parsed> out;
  private final String knownSplit;
  private boolean undecodable;
  private long ordinal;
  private int element = -1;

  private RawParser(SourceFile source, double testFraction, Consumer<Parsed> out) {
    this.source = source;
    this.dataset = source.parser();
    this.testFraction = testFraction;
    this.out = out;
    this.knownSplit =
        switch (source.role()) {
          case TRAIN -> Split.TRAIN.label();
          case TEST -> Split.TEST.label();
          case HASHED -> null;
        };
  }

  /** Parses a whole JSON Lines file or JSON document. */
  static void parseFile(
      SourceFile source, byte[] content, double testFraction, Consumer<Parsed> out) {
    RawParser parser = new RawParser(source, testFraction, out);
    int start = hasByteOrderMark(content) ? 3 : 0;
    switch (source.type()) {
      case JSONL -> parser.parseLines(content, start);
      case JSON -> parser.parseDocument(content, start);
      case PARQUET ->
          throw new IllegalArgumentException("Parquet files are read by Spark: " + source.path());
    }
  }

  /** Parses one unit given as JSON text (a Parquet row), at {@code position} of the file. */
  static void parseUnit(
      SourceFile source,
      String json,
      String position,
      long ordinal,
      double testFraction,
      Consumer<Parsed> out) {
    RawParser parser = new RawParser(source, testFraction, out);
    parser.ordinal = ordinal;
    parser.parseJsonUnit(json, position);
  }

  private void parseLines(byte[] content, int start) {
    long line = 0;
    for (int at = start; at < content.length; ) {
      int end = at;
      while (end < content.length && content[end] != '\n') {
        end++;
      }
      line++;
      int stop = end > at && content[end - 1] == '\r' ? end - 1 : end;
      ordinal = line;
      parseLine(content, at, stop, "line " + line);
      at = end + 1;
    }
  }

  private void parseLine(byte[] content, int from, int to, String position) {
    CharsetDecoder decoder =
        StandardCharsets.UTF_8
            .newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);
    ByteBuffer bytes = ByteBuffer.wrap(content, from, to - from);
    CharBuffer chars = CharBuffer.allocate(to - from);
    CoderResult result = decoder.decode(bytes, chars, true);
    if (result.isError()) {
      int offset = bytes.position() - from;
      emit(
          position,
          RejectReason.INVALID_UTF8,
          "invalid UTF-8 at byte " + offset + " of the line",
          lenient(content, from, to));
      return;
    }
    decoder.flush(chars);
    String text = chars.flip().toString();
    if (!text.isBlank()) {
      parseJsonUnit(text, position);
    }
  }

  private void parseJsonUnit(String text, String position) {
    JsonElement element;
    try {
      element = strictParse(text);
    } catch (JsonParseException | IOException e) {
      emit(position, RejectReason.MALFORMED_JSON, "malformed JSON: " + message(e), text);
      return;
    }
    if (!element.isJsonObject()) {
      emit(
          position,
          RejectReason.WRONG_TYPE,
          "record is " + JsonFields.describe(element) + ", expected an object",
          text);
      return;
    }
    record(element.getAsJsonObject(), position, text);
  }

  private static JsonElement strictParse(String text) throws IOException {
    JsonReader reader = new JsonReader(new StringReader(text));
    reader.setStrictness(Strictness.STRICT);
    JsonElement element = JsonParser.parseReader(reader);
    if (reader.peek() != JsonToken.END_DOCUMENT) {
      throw new JsonParseException("text after the JSON value");
    }
    return element;
  }

  private void parseDocument(byte[] content, int start) {
    String text = decode(content, start);
    JsonReader reader = new JsonReader(new StringReader(text));
    reader.setStrictness(Strictness.STRICT);
    String field = dataset.documentArray();
    String prefix = field.isEmpty() ? "" : field;
    try {
      if (field.isEmpty()) {
        if (reader.peek() != JsonToken.BEGIN_ARRAY) {
          rejectFile(RejectReason.WRONG_TYPE, "the document is not a JSON array", text);
          return;
        }
        readArray(reader, prefix);
      } else {
        if (reader.peek() != JsonToken.BEGIN_OBJECT) {
          rejectFile(RejectReason.WRONG_TYPE, "the document is not a JSON object", text);
          return;
        }
        reader.beginObject();
        boolean found = false;
        while (reader.hasNext()) {
          String name = reader.nextName();
          if (name.equals(field) && reader.peek() == JsonToken.BEGIN_ARRAY) {
            found = true;
            readArray(reader, prefix);
          } else {
            reader.skipValue();
          }
        }
        reader.endObject();
        if (!found) {
          rejectFile(
              RejectReason.MISSING_FIELD, "missing array field '" + field + "' at the top", text);
        }
      }
      if (reader.peek() != JsonToken.END_DOCUMENT) {
        rejectFile(RejectReason.MALFORMED_JSON, "malformed JSON: text after the document", text);
      }
    } catch (JsonParseException | IOException | IllegalStateException e) {
      String position = element < 0 ? "file" : "after " + prefix + "[" + element + "]";
      reject(
          position,
          RejectReason.MALFORMED_JSON,
          "malformed JSON: " + message(e) + "; the rest of the file cannot be read",
          null);
    }
  }

  private void readArray(JsonReader reader, String prefix) throws IOException {
    reader.beginArray();
    while (reader.hasNext()) {
      JsonElement next = JsonParser.parseReader(reader);
      element++;
      dataset.explode(next, prefix + "[" + element + "]", this);
    }
    reader.endArray();
  }

  @Override
  public void unit(JsonObject unit, String position) {
    ordinal++;
    if (undecodable && unit.toString().indexOf('\uFFFD') >= 0) {
      emit(position, RejectReason.INVALID_UTF8, "invalid UTF-8 in this record", unit.toString());
      return;
    }
    record(unit, position, null);
  }

  /** A rejection found by the document's reader or {@link Dataset#explode}: a unit of its own. */
  @Override
  public void reject(String position, RejectReason reason, String message, String raw) {
    ordinal++;
    emit(position, reason, message, raw);
  }

  /** Rejects the unit at the current ordinal. */
  private void emit(String position, RejectReason reason, String message, String raw) {
    out.accept(Parsed.rejected(source, position, ordinal, knownSplit, reason, message, raw));
  }

  private void rejectFile(RejectReason reason, String message, String raw) {
    reject("file", reason, message, raw);
  }

  /** Validates a unit; {@code text} is its source text, or null to render it on rejection. */
  private void record(JsonObject unit, String position, String text) {
    try {
      Record record = dataset.toRecord(unit, source.fileName(), source.role(), testFraction);
      out.accept(
          new Parsed(
              source.dataset(),
              source.path(),
              position,
              ordinal,
              record,
              record.split().label(),
              null,
              null,
              null));
    } catch (InvalidRecordException e) {
      emit(position, e.reason(), e.getMessage(), text != null ? text : unit.toString());
    }
  }

  /** Strict UTF-8, or, when the bytes are invalid, U+FFFD for each bad sequence, remembered. */
  private String decode(byte[] content, int start) {
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(content, start, content.length - start))
          .toString();
    } catch (java.nio.charset.CharacterCodingException e) {
      undecodable = true;
      return lenient(content, start, content.length);
    }
  }

  private static String lenient(byte[] content, int from, int to) {
    return new String(content, from, to - from, StandardCharsets.UTF_8);
  }

  private static boolean hasByteOrderMark(byte[] content) {
    return content.length >= 3
        && (content[0] & 0xff) == 0xef
        && (content[1] & 0xff) == 0xbb
        && (content[2] & 0xff) == 0xbf;
  }

  private static String message(Exception e) {
    Throwable cause = e.getCause() != null ? e.getCause() : e;
    String message = cause.getMessage() == null ? cause.toString() : cause.getMessage();
    int hint = message.indexOf("\nSee ");
    return (hint >= 0 ? message.substring(0, hint) : message).replace('\n', ' ');
  }
}
