package org.meft.jobs;

import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.meft.format.CheckpointException;
import org.meft.stop.NativeGate;
import org.meft.stop.StopSignals;
import org.meft.stop.StoppedException;

/**
 * The entry point behind {@code bin/meft COMMAND [flags]}. Exit codes: 0 success, 1 the command
 * failed (one error line on stderr), 2 a bad command line (the message and the usage), 143 / 130
 * stopped by SIGTERM / SIGINT ({@link StopSignals}: a {@link Command#stoppable} command stops at a
 * step boundary, says where on one line, and exits; the process never exits while a thread is
 * inside libtorch). Stack traces appear only with {@code MEFT_DEBUG=1}.
 */
public final class Main {
  private static final Map<String, Command> COMMANDS = new LinkedHashMap<>();
  private static final String MARKDOWN = "--markdown";

  static {
    for (Command command :
        List.of(
            new DemoCommand(),
            new GenerateCommand(),
            new InitModelCommand(),
            new TrainCommand(),
            new PlanCommand(),
            new PrepareCommand(),
            new TrainSweepCommand(),
            new EvaluateCommand(),
            new ReportCommand(),
            new ScoreCommand(),
            new BenchCommand())) {
      COMMANDS.put(command.name(), command);
    }
  }

  private Main() {}

  /** Every command, in the order the usage lists them. */
  public static List<Command> commands() {
    return List.copyOf(COMMANDS.values());
  }

  public static void main(String[] args) {
    StopSignals.install();
    int code = run(args, System.out, System.err);
    System.out.flush();
    NativeGate.exit(StopSignals.requested() ? StopSignals.exitCode() : code);
  }

  /** Runs one command line; returns the exit code. */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    if (args.length == 2 && args[0].equals("help") && args[1].equals(MARKDOWN)) {
      out.print(CliReference.markdown(commands()));
      return 0;
    }
    if (args.length == 0
        || args[0].equals("help")
        || args[0].equals("--help")
        || args[0].equals("-h")) {
      printUsage(args.length == 0 ? err : out);
      return args.length == 0 ? 2 : 0;
    }
    Command command = COMMANDS.get(args[0]);
    if (command == null) {
      err.println("meft: unknown command '" + args[0] + "'");
      printUsage(err);
      return 2;
    }
    List<String> rest = Arrays.asList(args).subList(1, args.length);
    if (rest.contains("--help") || rest.contains("-h")) {
      out.println("usage: bin/meft " + command.name() + " " + command.usage());
      return 0;
    }
    // A stoppable command is watched until its last line is printed: a first stop signal then
    // exits only after the command has stopped, written its checkpoint and said where.
    try (StopSignals.Watch watch = command.stoppable() ? StopSignals.watch() : null) {
      return run(command, rest, out, err);
    }
  }

  private static int run(Command command, List<String> rest, PrintStream out, PrintStream err) {
    try {
      return command.run(rest, out);
    } catch (StoppedException e) {
      err.println("meft " + command.name() + ": " + e.getMessage());
      return e.exitCode();
    } catch (UsageException e) {
      err.println("meft " + command.name() + ": " + e.getMessage());
      err.println("usage: bin/meft " + command.name() + " " + command.usage());
      return 2;
    } catch (CheckpointException | IllegalArgumentException | IllegalStateException e) {
      return fail(err, command, e.getMessage(), e);
    } catch (UncheckedIOException e) {
      return fail(err, command, describe(e.getCause()), e);
    } catch (java.io.IOException e) {
      return fail(err, command, describe(e), e);
    } catch (Exception | Error e) {
      return fail(err, command, "internal error: " + e, e);
    }
  }

  private static String describe(java.io.IOException e) {
    return e instanceof NoSuchFileException ? e.getMessage() + ": no such file" : e.toString();
  }

  private static int fail(PrintStream err, Command command, String message, Throwable e) {
    err.println("meft " + command.name() + ": error: " + message.replace('\n', ' '));
    if ("1".equals(System.getenv("MEFT_DEBUG"))) {
      e.printStackTrace(err);
    }
    return 1;
  }

  private static void printUsage(PrintStream stream) {
    stream.println("usage: bin/meft COMMAND [flags]   (bin/meft COMMAND --help for its flags;");
    stream.println("       bin/meft help " + MARKDOWN + " for the reference of every command)");
    stream.println();
    stream.println("commands:");
    for (Command command : COMMANDS.values()) {
      stream.printf("  %-12s %s%n", command.name(), command.summary());
    }
  }
}
