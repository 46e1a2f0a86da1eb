package org.meft.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The bench command line; the benchmark itself is timed, so it never runs in unit tests. */
class BenchCommandTest {
  @Test
  void badFlagsAreUsageErrors() {
    MainTest.Result unknown = MainTest.meft("bench", "--fast");
    assertEquals(2, unknown.code());
    assertTrue(unknown.err().contains("unknown flag --fast"), unknown.err());
    MainTest.Result budget = MainTest.meft("bench", "--host-budget-mb", "0");
    assertEquals(2, budget.code());
    assertTrue(budget.err().contains("--host-budget-mb must be in [1, 1073741824]"), budget.err());
  }

  @Test
  void helpListsTheFlags() {
    MainTest.Result help = MainTest.meft("bench", "--help");
    assertEquals(0, help.code());
    assertTrue(help.out().contains("--quick") && help.out().contains("--json"), help.out());
  }
}
