package org.meft.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.meft.adapter.meft.KeySource;
import org.meft.adapter.meft.MeftAdapter;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.meft.TrainRows;
import org.meft.store.HostStore;
import org.meft.store.StoreDtype;
import org.meft.store.StoreMoments;
import org.meft.store.StoreRate;
import org.meft.testing.Overwrite;

/**
 * Gradients through the Key-Experts selection match central finite differences: the router's (via
 * the softmax over the probed experts' scores) and the selected rows' (keys and values), with the
 * selection held fixed by staying away from ties.
 */
class MeftGradientCheckTest {
  private static final int D = 8;
  private static final int N = 40;
  private static final int TOKENS = 5;

  @Test
  void routerAndSelectedRowGradientsMatchFiniteDifferences() {
    MeftConfig config =
        new MeftConfig(
            N,
            6,
            5,
            2,
            24,
            0.5f,
            KeySource.RANDOM,
            StoreRate.RUN,
            TrainRows.ALL,
            StoreDtype.F32,
            StoreMoments.F32,
            LayerSelection.ALL);
    try (NDManager manager = NDManager.newBaseManager();
        BufferAllocator allocator = new RootAllocator(16L << 20);
        HostStore store = HostStore.allocate(allocator, 1, N, D, 0.5f, 3);
        MeftAdapter adapter =
            new MeftAdapter(
                config, store, 0, manager, allocator, new AdapterMeters(), new ActiveTokens())) {
      Random random = new Random(8);
      for (int row = 0; row < N; row++) {
        float[] value = new float[D];
        for (int i = 0; i < D; i++) {
          value[i] = (float) random.nextGaussian();
        }
        store.setValueRow(0, row, value);
      }
      float[] hValues = new float[TOKENS * D];
      float[] probeValues = new float[TOKENS * D];
      for (int i = 0; i < hValues.length; i++) {
        hValues[i] = (float) random.nextGaussian();
        probeValues[i] = (float) random.nextGaussian();
      }
      NDArray h = manager.create(hValues, new Shape(1, TOKENS, D));
      NDArray probe = manager.create(probeValues, new Shape(1, TOKENS, D));

      float[] routerGrad;
      try (NDManager step = manager.newSubManager();
          GradientCollector collector = Engine.getInstance().newGradientCollector()) {
        collector.backward(loss(adapter, h, probe, step));
        routerGrad = adapter.router().getArray().getGradient().toFloatArray();
        adapter.collectGradients();
      }
      int checked = 0;
      for (int index : new int[] {3, 11, 17, 26, 38}) {
        float numeric = finiteDifference(adapter, h, probe, manager, index);
        assertEquals(
            numeric, routerGrad[index], 2e-3f * Math.max(1, Math.abs(numeric)), "router " + index);
        checked += numeric != 0 ? 1 : 0;
      }
      assertTrue(checked >= 2, "the router check needs non-zero gradients");

      int rowsChecked = 0;
      for (int row = 0; row < N && rowsChecked < 4; row++) {
        if (store.touchedRows(0) == 0 || isZero(store.valueGradientRow(0, row))) {
          continue;
        }
        float[] keyGrad = store.keyGradientRow(0, row);
        float[] valueGrad = store.valueGradientRow(0, row);
        for (int i = 0; i < D; i += 3) {
          assertEquals(
              rowDifference(adapter, store, h, probe, manager, row, i, true),
              keyGrad[i],
              2e-3f,
              "key " + row);
          assertEquals(
              rowDifference(adapter, store, h, probe, manager, row, i, false),
              valueGrad[i],
              2e-3f,
              "value " + row);
        }
        rowsChecked++;
      }
      assertTrue(rowsChecked >= 2, "the row check needs selected rows");
    }
  }

  private static NDArray loss(MeftAdapter adapter, NDArray h, NDArray probe, NDManager step) {
    NDArray x = h.duplicate();
    x.attach(step);
    return adapter.forward(new ParameterStore(step, false), x, true).mul(probe).sum();
  }

  private static float evaluate(MeftAdapter adapter, NDArray h, NDArray probe, NDManager manager) {
    try (NDManager step = manager.newSubManager()) {
      NDArray x = h.duplicate();
      x.attach(step);
      return adapter.forward(new ParameterStore(step, false), x, false).mul(probe).sum().getFloat();
    }
  }

  private static float finiteDifference(
      MeftAdapter adapter, NDArray h, NDArray probe, NDManager manager, int index) {
    float eps = 1e-2f;
    NDArray router = adapter.router().getArray();
    float[] values = router.toFloatArray();
    float original = values[index];
    adapter.router().freeze(true); // a leaf that requires grad cannot be written in place
    values[index] = original + eps;
    Overwrite.floats(router, values);
    float plus = evaluate(adapter, h, probe, manager);
    values[index] = original - eps;
    Overwrite.floats(router, values);
    float minus = evaluate(adapter, h, probe, manager);
    values[index] = original;
    Overwrite.floats(router, values);
    adapter.router().freeze(false);
    return (plus - minus) / (2 * eps);
  }

  private static float rowDifference(
      MeftAdapter adapter,
      HostStore store,
      NDArray h,
      NDArray probe,
      NDManager manager,
      int row,
      int i,
      boolean key) {
    float eps = 1e-2f;
    float[] original = key ? store.keyRow(0, row) : store.valueRow(0, row);
    float[] changed = original.clone();
    changed[i] = original[i] + eps;
    set(store, row, changed, key);
    float plus = evaluate(adapter, h, probe, manager);
    changed[i] = original[i] - eps;
    set(store, row, changed, key);
    float minus = evaluate(adapter, h, probe, manager);
    set(store, row, original, key);
    return (plus - minus) / (2 * eps);
  }

  private static void set(HostStore store, int row, float[] values, boolean key) {
    if (key) {
      store.setKeyRow(0, row, values);
    } else {
      store.setValueRow(0, row, values);
    }
  }

  private static boolean isZero(float[] values) {
    for (float v : values) {
      if (v != 0) {
        return false;
      }
    }
    return true;
  }
}
