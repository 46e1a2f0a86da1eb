package org.meft.jobs;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.meft.datasets.Split;

/**
 * The {@code --name value} (or {@code --name=value}) flags of one command, checked against the
 * flags it declares: an unknown flag, a missing value or a repeated flag is a {@link
 * UsageException}.
 */
public final class Flags {
  private final String command;
  private final Map<String, String> values;

  private Flags(String command, Map<String, String> values) {
    this.command = command;
    this.values = values;
  }

  /** Parses {@code args}; {@code valued} take a value, {@code switches} do not. */
  public static Flags parse(
      String command, List<String> args, Set<String> valued, Set<String> switches) {
    Map<String, String> values = new HashMap<>();
    for (int i = 0; i < args.size(); i++) {
      String arg = args.get(i);
      if (!arg.startsWith("--")) {
        throw new UsageException("unexpected argument '" + arg + "'");
      }
      String name = arg.substring(2);
      String value = null;
      int equals = name.indexOf('=');
      if (equals >= 0) {
        value = name.substring(equals + 1);
        name = name.substring(0, equals);
      }
      if (switches.contains(name)) {
        if (value != null) {
          throw new UsageException("--" + name + " takes no value");
        }
        value = "true";
      } else if (valued.contains(name)) {
        if (value == null) {
          if (i + 1 >= args.size()) {
            throw new UsageException("--" + name + " needs a value");
          }
          value = args.get(++i);
        }
      } else {
        throw new UsageException("unknown flag --" + name + " for '" + command + "'");
      }
      if (values.put(name, value) != null) {
        throw new UsageException("--" + name + " given twice");
      }
    }
    return new Flags(command, values);
  }

  /** Every flag given, by name (a switch's value is "true"). */
  public Map<String, String> asMap() {
    return Map.copyOf(values);
  }

  public boolean has(String name) {
    return values.containsKey(name);
  }

  public String required(String name) {
    String value = values.get(name);
    if (value == null) {
      throw new UsageException("'" + command + "' needs --" + name);
    }
    return value;
  }

  public String string(String name, String fallback) {
    return values.getOrDefault(name, fallback);
  }

  public Path path(String name) {
    return has(name) ? Path.of(values.get(name)) : null;
  }

  public int integer(String name, int fallback) {
    return parsed(name, fallback, Integer::valueOf, "an integer");
  }

  public long longValue(String name, long fallback) {
    return parsed(name, fallback, Long::valueOf, "an integer");
  }

  /** {@code --split train|test}, test when absent. */
  public Split split() {
    try {
      return has("split") ? Split.of(values.get("split")) : Split.TEST;
    } catch (IllegalArgumentException e) {
      throw new UsageException("--" + e.getMessage());
    }
  }

  public float number(String name, float fallback) {
    return parsed(name, fallback, Float::valueOf, "a number");
  }

  private <T> T parsed(String name, T fallback, Function<String, T> parser, String expected) {
    if (!has(name)) {
      return fallback;
    }
    try {
      return parser.apply(values.get(name));
    } catch (NumberFormatException e) {
      throw new UsageException(
          "--" + name + " expects " + expected + ", got '" + values.get(name) + "'");
    }
  }
}
