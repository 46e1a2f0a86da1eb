package org.meft.train;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * The order examples are drawn in: a seeded shuffle, reshuffled (by the same generator) each time
 * the list is used up. A function of the seed and the number of examples drawn, so a resumed run
 * replays it with {@link #skip}.
 */
final class DataOrder {
  private final List<TrainingExample> order;
  private final Random random;
  private int cursor;
  private long drawn;

  DataOrder(List<TrainingExample> examples, long seed) {
    order = new ArrayList<>(examples);
    random = new Random(seed);
    Collections.shuffle(order, random);
  }

  TrainingExample next() {
    if (cursor == order.size()) {
      Collections.shuffle(order, random);
      cursor = 0;
    }
    drawn++;
    return order.get(cursor++);
  }

  /** Draws and drops {@code count} examples. */
  void skip(long count) {
    for (long i = 0; i < count; i++) {
      next();
    }
  }

  long drawn() {
    return drawn;
  }
}
