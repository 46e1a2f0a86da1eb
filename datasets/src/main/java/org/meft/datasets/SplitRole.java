package org.meft.datasets;

import java.util.Locale;
import java.util.Set;

/**
 * What a raw file contributes to the splits: all of it to {@link Split#TRAIN}, all of it to {@link
 * Split#TEST}, or each record by a stable hash of its id ({@link #HASHED}), for datasets whose
 * files have no split of their own.
 */
public enum SplitRole {
  TRAIN,
  TEST,
  HASHED;

  private static final Set<String> TEST_WORDS = Set.of("test", "dev", "validation", "val");

  /**
   * The split of one record with id {@code id}: a hashed record goes to test when {@link
   * StableHash#unit} of {@code "split:" + id} is below {@code testFraction}, so the assignment
   * never depends on file order, partitioning or which other records are present.
   */
  public Split assign(String id, double testFraction) {
    return switch (this) {
      case TRAIN -> Split.TRAIN;
      case TEST -> Split.TEST;
      case HASHED -> StableHash.unit("split:" + id) < testFraction ? Split.TEST : Split.TRAIN;
    };
  }

  /**
   * The conventional role of a file by the words of its name (split at non-alphanumerics): {@code
   * train} gives TRAIN; {@code test}, {@code dev}, {@code validation} or {@code val} give TEST
   * (official test sets are held back, so a dev set is the evaluation set); anything else HASHED.
   * This reads the official names ({@code train-v1.1.json}, {@code test.jsonl}) and the Hub's
   * ({@code validation-00000-of-00001.parquet}) alike.
   */
  public static SplitRole fromFileName(String fileName) {
    boolean test = false;
    for (String word : fileName.toLowerCase(Locale.ROOT).split("[^a-z0-9]+")) {
      if (word.equals("train")) {
        return TRAIN;
      }
      test |= TEST_WORDS.contains(word);
    }
    return test ? TEST : HASHED;
  }
}
