package org.meft.jobs;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.meft.datasets.Split;
import org.meft.settings.Range;
import org.meft.settings.Setting;
import org.meft.settings.SettingValues;

/**
 * The {@code --name value} (or {@code --name=value}) flags of one command, checked against the
 * flags it declares ({@link Command#flags}): an unknown flag, a missing value or a repeated flag is
 * a {@link UsageException}. Values are read through {@link SettingValues}, as a sweep file's or a
 * manifest's settings are, with each setting's declared default; a bad value is refused naming its
 * flag.
 */
public final class Flags {
  /** The Spark master of every command that runs Spark; declared here once. */
  public static final Setting MASTER =
      Setting.derived(
          "master",
          Setting.Kind.TEXT,
          "spark-submit's master, else local[*]",
          Range.ANY,
          "Spark master: local[*], local[N] or spark://HOST:PORT");

  /** {@code --json}: the command's result as one JSON line on stdout. */
  public static final Setting JSON =
      Setting.flag("json", "print the result as one JSON object on the last stdout line");

  /** {@code --split}: which split of prepared data. */
  public static final Setting SPLIT =
      Setting.choice(
          "split", Split.TEST, "test: held-out records; train: the records the runs trained on");

  private final String command;
  private final Map<String, String> values;
  private final SettingValues settings;

  private Flags(String command, Map<String, String> values) {
    this.command = command;
    this.values = values;
    this.settings = new SettingValues(values);
  }

  /** Parses {@code args} against {@code command}'s declared flags. */
  public static Flags parse(Command command, List<String> args) {
    Map<String, Setting> declared = new HashMap<>();
    command.flags().forEach(s -> declared.put(s.name(), s));
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
      Setting setting = declared.get(name);
      if (setting == null) {
        throw new UsageException("unknown flag --" + name + " for '" + command.name() + "'");
      }
      if (setting.kind() == Setting.Kind.BOOLEAN) {
        if (value != null) {
          throw new UsageException("--" + name + " takes no value");
        }
        value = "true";
      } else if (value == null) {
        if (i + 1 >= args.size()) {
          throw new UsageException("--" + name + " needs a value");
        }
        value = args.get(++i);
      }
      if (values.put(name, value) != null) {
        throw new UsageException("--" + name + " given twice");
      }
    }
    return new Flags(command.name(), values);
  }

  /** Every flag given, by name (a switch's value is "true"). */
  public Map<String, String> asMap() {
    return Map.copyOf(values);
  }

  /** Whether the flag was given (for a switch: whether it is on). */
  public boolean has(Setting setting) {
    return values.containsKey(setting.name());
  }

  /** The value as given, or the declared default; refuses a missing required flag. */
  public String text(Setting setting) {
    if (setting.defaultValue() == null && !has(setting)) {
      throw new UsageException("'" + command + "' needs --" + setting.name());
    }
    return settings.text(setting);
  }

  /** The value if given, else null: a flag without a default whose absence means something. */
  public String optionalText(Setting setting) {
    return settings.optionalText(setting);
  }

  /** {@link #text} as a path. */
  public Path path(Setting setting) {
    return Path.of(text(setting));
  }

  /** {@link #optionalText} as a path, or null. */
  public Path optionalPath(Setting setting) {
    String value = optionalText(setting);
    return value == null ? null : Path.of(value);
  }

  /** {@code --master}, else spark-submit's master, else local. */
  public String master() {
    return SparkSessions.master(optionalText(MASTER));
  }

  /** {@code --split}. */
  public Split split() {
    return choice(SPLIT, Split.class);
  }

  /** A {@link Setting#choice} flag's value, refused naming the flag and what it takes. */
  public <E extends Enum<E>> E choice(Setting setting, Class<E> type) {
    return read(() -> settings.choice(setting, type));
  }

  /**
   * The integer value of {@code setting}'s flag, or its default when absent; refused naming the
   * flag when missing (no default), malformed or outside the setting's range.
   */
  public long integer(Setting setting) {
    text(setting);
    long value = read(() -> settings.longInteger(setting));
    return (long) inRange(setting, value);
  }

  /** As {@link #integer(Setting)}, for a number setting. */
  public float number(Setting setting) {
    text(setting);
    float value = read(() -> settings.number(setting));
    return (float) inRange(setting, value);
  }

  private static <T> T read(java.util.function.Supplier<T> value) {
    try {
      return value.get();
    } catch (IllegalArgumentException e) {
      throw new UsageException("--" + e.getMessage());
    }
  }

  private double inRange(Setting setting, double value) {
    if (!setting.range().contains(value)) {
      throw new UsageException(
          "--"
              + setting.name()
              + " must be "
              + setting.range()
              + ", got "
              + settings.text(setting));
    }
    return value;
  }

  /**
   * A command's usage from its declarations: the required flags on the first line, then one line
   * for every flag with its default (or rule) and help.
   */
  public static String usage(List<Setting> flags) {
    StringBuilder usage = new StringBuilder();
    for (Setting s : flags) {
      if (s.required()) {
        usage.append(s.usage()).append(' ');
      }
    }
    usage.append("[options]\n");
    flags.stream().filter(s -> !s.required()).forEach(s -> option(usage, s.usage(), s.helpText()));
    return usage.toString().stripTrailing();
  }

  /** One line of a command's usage: the flag as written, then its help (with its range). */
  public static void option(StringBuilder usage, String flag, String help) {
    usage.append(String.format(Locale.ROOT, "   %-36s %s%n", flag, help));
  }
}
