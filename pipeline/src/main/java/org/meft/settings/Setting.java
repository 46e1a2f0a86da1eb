package org.meft.settings;

import java.util.Locale;

/**
 * One setting of a run, declared once: its name (the flag of {@code bin/meft train}, the key of a
 * sweep file's run and of a checkpoint manifest), its kind, its default, the range it allows and
 * its help text. Usage lines, parsing, validation messages and written-out runs all read it from
 * here.
 *
 * @param name the flag without its dashes, e.g. {@code adapter-size}
 * @param kind how its value is written
 * @param defaultValue the default as written on the command line; null when the setting is required
 *     or its default is derived from other settings ({@link #defaultRule})
 * @param defaultRule for a derived default, how it is derived (e.g. {@code ceil(sqrt(N))}); null
 *     otherwise
 * @param range the values allowed (numbers only); ranges that depend on other settings are checked
 *     by the configuration that reads them
 * @param help one line for the usage text
 */
public record Setting(
    String name, Kind kind, String defaultValue, String defaultRule, Range range, String help) {

  /** How a setting's value is written. */
  public enum Kind {
    INTEGER,
    NUMBER,
    TEXT,
    /** true or false; a flag without a value on the command line. */
    BOOLEAN
  }

  public Setting {
    if (defaultValue != null && defaultRule != null) {
      throw new IllegalArgumentException(name + ": a default value or a rule, not both");
    }
  }

  public static Setting integer(String name, int defaultValue, Range range, String help) {
    return new Setting(name, Kind.INTEGER, Integer.toString(defaultValue), null, range, help);
  }

  public static Setting number(String name, float defaultValue, Range range, String help) {
    return new Setting(name, Kind.NUMBER, Float.toString(defaultValue), null, range, help);
  }

  /** A switch, off unless given. */
  public static Setting flag(String name, String help) {
    return new Setting(name, Kind.BOOLEAN, "false", null, Range.ANY, help);
  }

  /**
   * One of {@code defaultValue}'s enum constants, written in lower case ({@link #spelled}); the
   * help text lists them.
   */
  public static <E extends Enum<E>> Setting choice(String name, E defaultValue, String help) {
    StringBuilder allowed = new StringBuilder();
    for (Enum<?> value : defaultValue.getDeclaringClass().getEnumConstants()) {
      allowed.append(allowed.length() == 0 ? "" : "|").append(spelled(value));
    }
    return new Setting(
        name, Kind.TEXT, spelled(defaultValue), null, Range.ANY, allowed + ": " + help);
  }

  /** How {@link #choice} settings write an enum constant: its name in lower case. */
  public static String spelled(Enum<?> value) {
    return value.name().toLowerCase(Locale.ROOT);
  }

  public static Setting text(String name, String defaultValue, String help) {
    return new Setting(name, Kind.TEXT, defaultValue, null, Range.ANY, help);
  }

  /** A setting without a default. */
  public static Setting required(String name, Kind kind, Range range, String help) {
    return new Setting(name, kind, null, null, range, help);
  }

  /** A setting whose default is computed from other settings as {@code rule} says. */
  public static Setting derived(String name, Kind kind, String rule, Range range, String help) {
    return new Setting(name, kind, null, rule, range, help);
  }

  /** This setting under another name (a composed method's second method's, {@code B.name}). */
  public Setting named(String other) {
    return new Setting(other, kind, defaultValue, defaultRule, range, help);
  }

  public boolean required() {
    return defaultValue == null && defaultRule == null;
  }

  /**
   * {@code value} itself when this setting's range allows it.
   *
   * @throws IllegalArgumentException naming the setting, its range and the value
   */
  public float check(float value) {
    if (!range.contains(value)) {
      throw new IllegalArgumentException(name + " must be " + range + ", got " + value);
    }
    return value;
  }

  /** As {@link #check(float)}, for an integer setting. */
  public long check(long value) {
    if (!range.contains(value)) {
      throw new IllegalArgumentException(name + " must be " + range + ", got " + value);
    }
    return value;
  }

  /**
   * {@code --name DEFAULT}, or {@code --name NAME} when there is no default value (required, or
   * derived: {@link #helpText} then gives the rule), for usage lines.
   */
  public String usage() {
    if (kind == Kind.BOOLEAN) {
      return "--" + name;
    }
    String shown =
        defaultValue != null ? defaultValue : name.toUpperCase(Locale.ROOT).replace('-', '_');
    return "--" + name + " " + shown;
  }

  /** The help text, with the range and the rule of a derived default. */
  public String helpText() {
    String text = range.equals(Range.ANY) ? help : help + "; " + range;
    return defaultRule == null ? text : text + "; default " + defaultRule;
  }
}
