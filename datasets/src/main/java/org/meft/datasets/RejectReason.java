package org.meft.datasets;

import java.util.Locale;

/**
 * Why a raw record was not prepared. Every rejected record is written to {@code _rejected/} with
 * one of these codes, a message and its source file and position, and counted.
 */
public enum RejectReason {
  /** The line or document is not valid JSON (RFC 8259, strict). */
  MALFORMED_JSON,
  /** The bytes are not valid UTF-8. */
  INVALID_UTF8,
  /** A required field is absent or null. */
  MISSING_FIELD,
  /** A field holds another JSON type than the format says. */
  WRONG_TYPE,
  /** A required text is empty or blank. */
  EMPTY_VALUE,
  /** The list of acceptable answers (or relevant APIs) is empty. */
  EMPTY_ANSWERS,
  /** A SQuAD answer does not occur in its context. */
  ANSWER_NOT_IN_CONTEXT,
  /** A GSM8K solution has no number after {@code ####}. */
  NO_FINAL_NUMBER,
  /** A ToolBench relevant API is not among the query's candidate APIs. */
  UNKNOWN_API,
  /** Another record of the same dataset has the same id (the first, by file and position, wins). */
  DUPLICATE_ID,
  /** The target with BOS and EOS alone is longer than the maximum length. */
  TARGET_TOO_LONG,
  /** A file that cannot be read at all (for example a corrupt Parquet footer). */
  UNREADABLE_FILE;

  /** The code written to {@code _rejected/}: the lower-case name, e.g. {@code missing_field}. */
  public String code() {
    return name().toLowerCase(Locale.ROOT);
  }
}
