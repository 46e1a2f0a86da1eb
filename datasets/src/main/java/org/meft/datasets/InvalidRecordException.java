package org.meft.datasets;

/**
 * A raw record that fails validation: the reason and a message naming the field and what was
 * expected. Readers turn it into a rejected record; it never stops a job.
 */
public final class InvalidRecordException extends Exception {
  private static final long serialVersionUID = 1L;

  private final RejectReason reason;

  public InvalidRecordException(RejectReason reason, String message) {
    super(message, null, false, false);
    this.reason = reason;
  }

  public RejectReason reason() {
    return reason;
  }
}
