package org.meft.datasets;

import com.google.gson.JsonObject;

/** Receives what a JSON document expands into: record units, or rejections of parts of it. */
public interface UnitSink {
  /** One raw record, as a JSON object, at {@code position} (e.g. {@code data[3].paragraphs[1]}). */
  void unit(JsonObject unit, String position);

  /** A part of the document that yields no record, with why; {@code raw} is its JSON text. */
  void reject(String position, RejectReason reason, String message, String raw);
}
