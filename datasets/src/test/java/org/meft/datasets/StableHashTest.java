package org.meft.datasets;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Stable hashes and splits against values computed independently with Python's {@code hashlib}
 * ({@code int.from_bytes(sha256(key)[:8], "big")}).
 */
class StableHashTest {
  @Test
  void matchesSha256ComputedElsewhere() {
    assertEquals(0.1551036269230941, StableHash.unit("split:nq-0000000000000001"), 1e-16);
    assertEquals(0.5681714735026046, StableHash.unit("shard:abc"), 1e-16);
    assertEquals(5, StableHash.bucket("shard:abc", 7));
    assertEquals("377987a4f2c1419e", StableHash.hex16("who wrote the declaration of independence"));
  }

  @Test
  void hashedSplitsFollowTheFractionAndNotTheOrder() {
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 10_000; i++) {
      ids.add("id-" + i);
    }
    long test = ids.stream().filter(id -> SplitRole.HASHED.assign(id, 0.2) == Split.TEST).count();
    assertEquals(0.2, test / 10_000.0, 0.015);
    List<Split> before = ids.stream().map(id -> SplitRole.HASHED.assign(id, 0.2)).toList();
    Collections.shuffle(ids, new java.util.Random(7));
    for (String id : ids) {
      int index = Integer.parseInt(id.substring(3));
      assertEquals(before.get(index), SplitRole.HASHED.assign(id, 0.2), id);
    }
    assertEquals(Split.TEST, SplitRole.HASHED.assign("split-independent", 1.0));
    assertEquals(Split.TRAIN, SplitRole.HASHED.assign("split-independent", 0.0));
    // 0.155... < 0.2: test; the same id at fraction 0.1 trains.
    assertEquals(Split.TEST, SplitRole.HASHED.assign("nq-0000000000000001", 0.2));
    assertEquals(Split.TRAIN, SplitRole.HASHED.assign("nq-0000000000000001", 0.1));
  }

  @Test
  void fileNamesGiveTheConventionalRoles() {
    assertEquals(SplitRole.TRAIN, SplitRole.fromFileName("train-v1.1.json"));
    assertEquals(SplitRole.TRAIN, SplitRole.fromFileName("train-00000-of-00001.parquet"));
    assertEquals(SplitRole.TEST, SplitRole.fromFileName("dev-v1.1.json"));
    assertEquals(SplitRole.TEST, SplitRole.fromFileName("validation-00000-of-00001.parquet"));
    assertEquals(SplitRole.TEST, SplitRole.fromFileName("test.jsonl"));
    assertEquals(SplitRole.HASHED, SplitRole.fromFileName("G1_instruction.json"));
  }
}
