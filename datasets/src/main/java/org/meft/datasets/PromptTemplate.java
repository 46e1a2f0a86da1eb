package org.meft.datasets;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A prompt with named slots, {@code {question}}, filled by {@link #render}. Each dataset declares
 * its template as one constant, so the prompt formats are written down in one place and rendered by
 * one mechanism.
 */
public final class PromptTemplate {
  private static final Pattern SLOT = Pattern.compile("\\{([a-z_]+)}");

  private final String text;
  private final List<String> slots;

  private PromptTemplate(String text, List<String> slots) {
    this.text = text;
    this.slots = slots;
  }

  /** A template; slots are {@code {name}} with lower-case letters and underscores. */
  public static PromptTemplate of(String text) {
    List<String> slots = new ArrayList<>();
    Matcher matcher = SLOT.matcher(text);
    while (matcher.find()) {
      slots.add(matcher.group(1));
    }
    if (slots.isEmpty()) {
      throw new IllegalArgumentException("prompt template has no {slot}: " + text);
    }
    return new PromptTemplate(text, List.copyOf(slots));
  }

  /** The text with every slot replaced by its value; each slot needs a value. */
  public String render(Map<String, String> values) {
    StringBuilder out = new StringBuilder(text.length() + 256);
    Matcher matcher = SLOT.matcher(text);
    int at = 0;
    while (matcher.find()) {
      String value = values.get(matcher.group(1));
      if (value == null) {
        throw new IllegalArgumentException(
            "no value for slot {" + matcher.group(1) + "} of template " + slots);
      }
      out.append(text, at, matcher.start()).append(value);
      at = matcher.end();
    }
    return out.append(text, at, text.length()).toString();
  }

  public String text() {
    return text;
  }
}
