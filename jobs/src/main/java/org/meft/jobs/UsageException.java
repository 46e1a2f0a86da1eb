package org.meft.jobs;

/** A command line that cannot be run as given: bin/meft prints the message and usage, exit 2. */
public final class UsageException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public UsageException(String message) {
    super(message);
  }
}
