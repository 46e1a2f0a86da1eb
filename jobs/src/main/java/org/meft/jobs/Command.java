package org.meft.jobs;

import java.io.PrintStream;
import java.util.List;
import org.meft.settings.Setting;

/** One {@code bin/meft} command. */
public interface Command {
  /** The name on the command line. */
  String name();

  /** One line for the command list. */
  String summary();

  /** The flags it takes, each declared once with its default and help: parsing reads them. */
  List<Setting> flags();

  /** The flags, as shown in usage and the CLI reference: generated from {@link #flags}. */
  default String usage() {
    return Flags.usage(flags());
  }

  /**
   * Whether the command stops gracefully on SIGTERM or SIGINT: its training and evaluation loops
   * read {@link org.meft.stop.StopSignals#requested} between steps and end with a {@link
   * org.meft.stop.StoppedException}. Other commands exit at the signal (outside native code).
   */
  default boolean stoppable() {
    return false;
  }

  /** Runs with the arguments after the command name; returns the exit code. */
  int run(List<String> args, PrintStream out) throws Exception;
}
