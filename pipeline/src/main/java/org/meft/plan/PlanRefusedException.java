package org.meft.plan;

/** A configuration whose memory plan exceeds a limit, refused before any weight loads. */
public final class PlanRefusedException extends IllegalArgumentException {
  public PlanRefusedException(String message) {
    super(message);
  }
}
