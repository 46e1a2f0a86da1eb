package org.meft.settings;

import java.math.BigDecimal;
import java.util.Map;

/**
 * Typed reads of a map of settings as the user wrote them (flags, a sweep file's run, a manifest).
 * A missing setting takes its declared default; a malformed value is refused naming its setting and
 * what was expected. Ranges are the configurations' to check.
 */
public record SettingValues(Map<String, String> values) {
  private static final long MIB = 1L << 20;

  public boolean has(Setting setting) {
    return values.containsKey(setting.name());
  }

  /** The value as written (stripped), or the declared default; refuses a missing required one. */
  public String text(Setting setting) {
    String value = values.get(setting.name());
    if (value != null && !value.isBlank()) {
      return value.strip();
    }
    if (setting.defaultValue() == null) {
      throw new IllegalArgumentException("missing setting '" + setting.name() + "'");
    }
    return setting.defaultValue();
  }

  /** The value if given, else null (a setting whose absence means something, e.g. tokenizer). */
  public String optionalText(Setting setting) {
    return has(setting) ? values.get(setting.name()).strip() : null;
  }

  public int integer(Setting setting) {
    String value = text(setting);
    try {
      return Integer.parseInt(value);
    } catch (NumberFormatException e) {
      throw malformed(setting, "an integer");
    }
  }

  /** The value if given, else {@code derived} (a setting whose default depends on others). */
  public int integer(Setting setting, int derived) {
    return has(setting) ? integer(setting) : derived;
  }

  public long longInteger(Setting setting) {
    String value = text(setting);
    try {
      return Long.parseLong(value);
    } catch (NumberFormatException e) {
      throw malformed(setting, "an integer");
    }
  }

  public float number(Setting setting) {
    String value = text(setting);
    try {
      return Float.parseFloat(value);
    } catch (NumberFormatException e) {
      throw malformed(setting, "a number");
    }
  }

  /** A {@link Setting#choice} setting: the constant of {@code type} spelled as written. */
  public <E extends Enum<E>> E choice(Setting setting, Class<E> type) {
    String value = text(setting);
    StringBuilder allowed = new StringBuilder();
    for (E constant : type.getEnumConstants()) {
      if (Setting.spelled(constant).equals(value)) {
        return constant;
      }
      allowed.append(allowed.length() == 0 ? "" : "|").append(Setting.spelled(constant));
    }
    throw malformed(setting, allowed.toString());
  }

  /** A switch: true or false (a flag given without a value reads as true). */
  public boolean bool(Setting setting) {
    String value = text(setting);
    if (value.equals("true") || value.equals("false")) {
      return Boolean.parseBoolean(value);
    }
    throw malformed(setting, "true or false");
  }

  /** A size written in MiB (fractions allowed), as bytes. */
  public long mebibytes(Setting setting) {
    String value = text(setting);
    try {
      return new BigDecimal(value).multiply(BigDecimal.valueOf(MIB)).longValueExact();
    } catch (NumberFormatException | ArithmeticException e) {
      throw malformed(setting, "a number of MiB (at most 2^43, whole bytes)");
    }
  }

  /** {@code bytes} written as MiB, as {@link #mebibytes} reads it back. */
  public static String mebibytesText(long bytes) {
    return new BigDecimal(bytes)
        .divide(BigDecimal.valueOf(MIB))
        .stripTrailingZeros()
        .toPlainString();
  }

  private IllegalArgumentException malformed(Setting setting, String expected) {
    return new IllegalArgumentException(
        setting.name() + ": expected " + expected + ", got '" + values.get(setting.name()) + "'");
  }
}
