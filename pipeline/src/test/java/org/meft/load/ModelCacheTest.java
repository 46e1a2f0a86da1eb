package org.meft.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.meft.model.BaseDtype;

/**
 * The cache loads each model and adapter once while it can keep them, leases a model to one task at
 * a time, never holds more than its bound, and frees everything it loaded.
 */
class ModelCacheTest {
  private static final ModelCache.BaseKey BASE =
      new ModelCache.BaseKey(Path.of("base"), null, BaseDtype.F32, null);

  /** Stand-ins that record when they are opened, changed and closed. */
  static final class Fake implements AutoCloseable {
    final String name;
    final List<String> log;
    String installed; // the adapter in a model

    Fake(String name, List<String> log) {
      this.name = name;
      this.log = log;
      log.add("open " + name);
    }

    @Override
    public void close() {
      log.add("close " + name);
    }
  }

  static final class FakeLoader implements ModelCache.Loader<Fake, Fake> {
    final List<String> log = new ArrayList<>();

    @Override
    public synchronized Fake loadBase(ModelCache.BaseKey key) {
      return new Fake(key.model().getFileName().toString(), log);
    }

    @Override
    public synchronized Fake installAdapter(Fake model, Path checkpoint) {
      Fake adapter = new Fake(checkpoint.getFileName().toString(), log);
      model.installed = adapter.name;
      return adapter;
    }

    synchronized long count(String prefix) {
      return log.stream().filter(l -> l.startsWith(prefix)).count();
    }
  }

  @Test
  void twoRunsOfEightSlicesLoadTheBaseOnceAndEachAdapterOnce() {
    FakeLoader loader = new FakeLoader();
    try (ModelCache<Fake, Fake> cache = new ModelCache<>(1, loader)) {
      for (String run : List.of("run-a", "run-b")) {
        for (int slice = 0; slice < 8; slice++) {
          try (ModelCache<Fake, Fake>.Lease lease = cache.acquire(BASE, Path.of(run))) {
            assertEquals(run, lease.model().installed);
            assertEquals(run, lease.adapter().name);
          }
        }
      }
      assertEquals(1, cache.baseLoads());
      assertEquals(2, cache.adapterLoads());
    }
    assertEquals(
        List.of(
            "open base", "open run-a", "close run-a", "open run-b", "close run-b", "close base"),
        loader.log);
  }

  @Test
  void anotherRunsTaskWaitsForTheModelWithinTheBound() throws Exception {
    FakeLoader loader = new FakeLoader();
    ExecutorService pool = Executors.newSingleThreadExecutor();
    try (ModelCache<Fake, Fake> cache = new ModelCache<>(1, loader)) {
      ModelCache<Fake, Fake>.Lease first = cache.acquire(BASE, Path.of("run-a"));
      CountDownLatch started = new CountDownLatch(1);
      Future<String> second =
          pool.submit(
              () -> {
                started.countDown();
                try (ModelCache<Fake, Fake>.Lease lease = cache.acquire(BASE, Path.of("run-b"))) {
                  return lease.model().installed;
                }
              });
      started.await();
      Thread.sleep(100);
      assertTrue(!second.isDone(), "run-b must wait while run-a holds the only model");
      assertEquals("run-a", first.model().installed);
      first.close();
      assertEquals("run-b", second.get(10, TimeUnit.SECONDS));
      assertEquals(1, cache.baseLoads());
    } finally {
      pool.shutdownNow();
    }
    assertEquals(loader.count("open"), loader.count("close"));
  }

  @Test
  void concurrentTasksGetTheirOwnCopyUpToTheBound() {
    FakeLoader loader = new FakeLoader();
    try (ModelCache<Fake, Fake> cache = new ModelCache<>(2, loader)) {
      ModelCache<Fake, Fake>.Lease a1 = cache.acquire(BASE, Path.of("run-a"));
      ModelCache<Fake, Fake>.Lease a2 = cache.acquire(BASE, Path.of("run-a"));
      assertNotSame(a1.model(), a2.model());
      Fake kept = a1.model();
      a1.close();
      a2.close();
      try (ModelCache<Fake, Fake>.Lease again = cache.acquire(BASE, Path.of("run-a"))) {
        assertTrue(again.model() == kept || again.model() == a2.model());
      }
      ModelCache.BaseKey other =
          new ModelCache.BaseKey(Path.of("other"), null, BaseDtype.F32, null);
      try (ModelCache<Fake, Fake>.Lease lease = cache.acquire(other, Path.of("run-c"))) {
        assertEquals("other", lease.model().name);
      }
      assertEquals(3, cache.baseLoads()); // the third replaced the least recently used
      assertEquals(3, cache.adapterLoads());
    }
    assertEquals(loader.count("open"), loader.count("close"));
  }

  @Test
  void aFailedLoadFreesItsSlotAndAClosedCacheRefuses() {
    FakeLoader loader = new FakeLoader();
    ModelCache<Fake, Fake> cache =
        new ModelCache<>(
            1,
            new ModelCache.Loader<>() {
              @Override
              public Fake loadBase(ModelCache.BaseKey key) {
                return loader.loadBase(key);
              }

              @Override
              public Fake installAdapter(Fake model, Path checkpoint) {
                if (checkpoint.endsWith("bad")) {
                  throw new IllegalArgumentException("bad checkpoint");
                }
                return loader.installAdapter(model, checkpoint);
              }
            });
    assertThrows(IllegalArgumentException.class, () -> cache.acquire(BASE, Path.of("bad")));
    try (ModelCache<Fake, Fake>.Lease lease = cache.acquire(BASE, Path.of("good"))) {
      assertEquals("good", lease.model().installed);
    }
    cache.close();
    assertThrows(IllegalStateException.class, () -> cache.acquire(BASE, Path.of("good")));
    assertEquals(loader.count("open"), loader.count("close"));
    assertThrows(IllegalArgumentException.class, () -> new ModelCache<>(0, loader));
  }
}
