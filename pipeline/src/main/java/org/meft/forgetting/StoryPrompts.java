package org.meft.forgetting;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The story openings the forgetting measurement continues: short TinyStories-style beginnings
 * (stories260K's own domain, where fine-tuning on a question-answering dataset should change
 * nothing), each ending mid-sentence so that the model has something to continue. Written for this
 * project, one per line in {@value #RESOURCE}.
 */
public final class StoryPrompts {
  static final String RESOURCE = "story-prompts.txt";
  private static final List<String> ALL = read();

  private StoryPrompts() {}

  /** Every prompt, in file order. */
  public static List<String> all() {
    return ALL;
  }

  /** The first {@code count} prompts. */
  public static List<String> first(int count) {
    if (count < 0 || count > ALL.size()) {
      throw new IllegalArgumentException(
          "between 0 and " + ALL.size() + " story prompts, got " + count);
    }
    return ALL.subList(0, count);
  }

  private static List<String> read() {
    try (InputStream in = StoryPrompts.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException("class path resource missing: " + RESOURCE);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8)
          .lines()
          .map(String::strip)
          .filter(line -> !line.isEmpty())
          .toList();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + RESOURCE, e);
    }
  }
}
