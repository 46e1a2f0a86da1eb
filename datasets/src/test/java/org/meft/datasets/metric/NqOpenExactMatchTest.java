package org.meft.datasets.metric;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * NQ-open's exact match ({@code orqa/utils/eval_utils.py}): Unicode NFD, then the SQuAD
 * normalisation with Python's {@code re} word boundaries; expected values worked from that source.
 */
class NqOpenExactMatchTest {
  private final ExactMatchF1 nq = ExactMatchF1.nqOpen();
  private final ExactMatchF1 squad = ExactMatchF1.squad();

  @Test
  void composedAndDecomposedAccentsMatchAfterNfd() {
    String decomposed = "Debre\u0301";
    assertArrayEquals(new double[] {1, 0}, nq.score(decomposed, List.of("Debré")), 0);
    // evaluate-v1.1.py has no NFD: the SQuAD exact match misses it.
    assertEquals(0, squad.score(decomposed, List.of("Debré"))[0]);
  }

  @Test
  void aCombiningMarkIsNoWordCharacterForPythonsBoundary() {
    // NFD("Thé") = "The\u0301": Python's \w excludes the mark (category Mn), so "the" is a whole
    // word there and is removed; Java's Unicode \w would keep it.
    assertEquals("\u0301 beatles", ExactMatchF1.normalize(ExactMatchF1.nfd("Thé Beatles")));
    assertEquals(1, nq.score("Thé Beatles", List.of("\u0301 beatles"))[0]);
  }

  @Test
  void theSquadNormalisationStillApplies() {
    assertEquals(1, nq.score("The Émile  Zola!", List.of("émile zola"))[0]);
    assertEquals(0, nq.score("Zola", List.of("Émile Zola"))[0]);
    assertEquals(1, nq.score("Zola", List.of("Émile Zola", "zola."))[0]);
  }
}
