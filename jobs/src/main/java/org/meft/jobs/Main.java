package org.meft.jobs;

import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.meft.format.CheckpointException;

/**
 * The entry point behind {@code bin/meft COMMAND [flags]}. Exit codes: 0 success, 1 the command
 * failed (one error line on stderr), 2 a bad command line (the message and the usage). Stack traces
 * appear only with {@code MEFT_DEBUG=1}.
 */
public final class Main {
  private static final Map<String, Command> COMMANDS = new LinkedHashMap<>();

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

  public static void main(String[] args) {
    int code = run(args, System.out, System.err);
    System.out.flush();
    System.exit(code);
  }

  /** Runs one command line; returns the exit code. */
  public static int run(String[] args, PrintStream out, PrintStream err) {
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
    try {
      return command.run(rest, out);
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
    stream.println("usage: bin/meft COMMAND [flags]   (bin/meft COMMAND --help for its flags)");
    stream.println();
    stream.println("commands:");
    for (Command command : COMMANDS.values()) {
      stream.printf("  %-12s %s%n", command.name(), command.summary());
    }
  }
}
