package org.meft.jobs;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.meft.datasets.Split;
import org.meft.settings.Setting;

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

  /** {@code --split train|test}, test when absent. */
  public Split split() {
    try {
      return has("split") ? Split.of(values.get("split")) : Split.TEST;
    } catch (IllegalArgumentException e) {
      throw new UsageException("--" + e.getMessage());
    }
  }

  /**
   * The integer value of {@code setting}'s flag, or its default when absent; refused naming the
   * flag when missing (no default), malformed or outside the setting's range.
   */
  public long integer(Setting setting) {
    String text = valueOf(setting);
    long value;
    try {
      value = Long.parseLong(text.strip());
    } catch (NumberFormatException e) {
      throw new UsageException("--" + setting.name() + " expects an integer, got '" + text + "'");
    }
    return (long) inRange(setting, value, text);
  }

  /** As {@link #integer(Setting)}, for a number setting. */
  public float number(Setting setting) {
    String text = valueOf(setting);
    float value;
    try {
      value = Float.parseFloat(text.strip());
    } catch (NumberFormatException e) {
      throw new UsageException("--" + setting.name() + " expects a number, got '" + text + "'");
    }
    return (float) inRange(setting, value, text);
  }

  private String valueOf(Setting setting) {
    String text = values.get(setting.name());
    if (text == null) {
      text = setting.defaultValue();
    }
    if (text == null) {
      throw new UsageException("'" + command + "' needs --" + setting.name());
    }
    return text;
  }

  private static double inRange(Setting setting, double value, String text) {
    if (!setting.range().contains(value)) {
      throw new UsageException(
          "--" + setting.name() + " must be " + setting.range() + ", got " + text.strip());
    }
    return value;
  }

  /** One line of a command's usage: the flag as written, then its help (with its range). */
  public static void option(StringBuilder usage, String flag, String help) {
    usage.append(String.format(Locale.ROOT, "   %-36s %s%n", flag, help));
  }

  /** One usage line for each of {@code settings}. */
  public static String options(List<Setting> settings) {
    StringBuilder usage = new StringBuilder();
    settings.forEach(s -> option(usage, s.usage(), s.helpText()));
    return usage.toString().stripTrailing();
  }
}
