package org.meft.testing;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import java.util.List;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.function.Executable;
import org.meft.format.CheckpointException;

/**
 * One row of a malformed-input table: an action on a generated bad input, and the fragments its
 * refusal must name (the file, the tensor, field or setting, what was expected). A refusal is a
 * {@link CheckpointException} or an {@link IllegalArgumentException} (what {@code bin/meft} prints
 * as one error line), never another exception, and its message is one line.
 */
public record Refusal(String name, Executable action, List<String> fragments) {

  public static Refusal of(String name, Executable action, String... fragments) {
    return new Refusal(name, action, List.of(fragments));
  }

  /** This row as a test. */
  public DynamicTest test() {
    return dynamicTest(
        name,
        () -> {
          RuntimeException e = assertThrows(RuntimeException.class, action, name + ": not refused");
          assertTrue(
              e instanceof CheckpointException || e instanceof IllegalArgumentException,
              () -> name + ": refused with " + e + " (expected a one-line user error)");
          String message = String.valueOf(e.getMessage());
          assertFalse(message.contains("\n"), () -> name + ": more than one line: " + message);
          for (String fragment : fragments) {
            assertTrue(
                message.contains(fragment), () -> name + ": '" + fragment + "' not in: " + message);
          }
        });
  }
}
