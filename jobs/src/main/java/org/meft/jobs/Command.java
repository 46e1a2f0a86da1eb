package org.meft.jobs;

import java.io.PrintStream;
import java.util.List;

/** One {@code bin/meft} command. */
public interface Command {
  /** The name on the command line. */
  String name();

  /** One line for the command list. */
  String summary();

  /** The flags, as shown in usage. */
  String usage();

  /** Runs with the arguments after the command name; returns the exit code. */
  int run(List<String> args, PrintStream out) throws Exception;
}
