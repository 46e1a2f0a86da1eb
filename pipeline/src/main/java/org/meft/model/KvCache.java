package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * Keys and values of the columns already seen, per layer, so that generation feeds only the new
 * token. Each layer holds k, v in a buffer [B, Hkv, capacity, Dh] that new columns are written into
 * in place (a copy of the new columns only, not of the whole cache); a cache made without a
 * capacity doubles its buffers when full. The arrays live in the cache's own manager and are freed
 * by {@link #close()}.
 *
 * <p>A column is a slot in the buffer, not a position: in a left-padded batch, sequence b's token
 * at position p sits in column {@code pad_b + p}, and its attention mask hides the pad columns.
 */
public final class KvCache implements AutoCloseable {
  private final NDManager manager;
  private final NDArray[] keys; // per layer [B, Hkv, capacity, Dh]
  private final NDArray[] values;
  private final NDArray[] keysTransposed; // per layer, a view [B, Hkv, Dh, capacity] of keys
  private int capacity;
  private int length;

  /** A cache whose buffers grow (by doubling) as columns are appended. */
  public KvCache(NDManager parent, int nLayers) {
    this(parent, nLayers, 0);
  }

  /** A cache whose buffers hold {@code capacity} columns from the first append. */
  public KvCache(NDManager parent, int nLayers, int capacity) {
    this.manager = parent.newSubManager();
    this.keys = new NDArray[nLayers];
    this.values = new NDArray[nLayers];
    this.keysTransposed = new NDArray[nLayers];
    this.capacity = capacity;
  }

  /** Columns cached so far; the next token goes in this column. */
  public int length() {
    return length;
  }

  /**
   * Writes the new columns' k, v [B, Hkv, Tnew, Dh] of layer {@code layer} at [length, length +
   * Tnew) and returns views of the filled part, [B, Hkv, length + Tnew, Dh] each.
   */
  NDArray[] append(int layer, NDArray k, NDArray v) {
    int end = length + (int) k.getShape().get(2);
    if (keys[layer] == null || end > keys[layer].getShape().get(2)) {
      // Every layer's buffers take the capacity, which doubles when a pass outgrows it.
      if (end > capacity) {
        capacity = Math.max(end, 2 * capacity);
      }
      forgetView(layer);
      keys[layer] = grown(keys[layer], k);
      values[layer] = grown(values[layer], v);
    }
    // Built, not parsed: NDIndex's string form runs a regular expression per call.
    NDIndex fresh = new NDIndex().addAllDim(2).addSliceDim(length, end);
    keys[layer].set(fresh, k);
    values[layer].set(fresh, v);
    // Views of the buffers, owned by the caller's (per-step) manager so they do not pile up here.
    NDIndex filled = new NDIndex().addAllDim(2).addSliceDim(0, end);
    NDArray kAll = keys[layer].get(filled);
    NDArray vAll = values[layer].get(filled);
    kAll.attach(k.getManager());
    vAll.attach(k.getManager());
    return new NDArray[] {kAll, vAll};
  }

  /** A zero buffer of {@code capacity} columns holding {@code cached}'s first length columns. */
  private NDArray grown(NDArray cached, NDArray like) {
    Shape shape = like.getShape();
    NDArray buffer =
        manager.zeros(
            new Shape(shape.get(0), shape.get(1), capacity, shape.get(3)), like.getDataType());
    if (cached != null) {
      if (length > 0) {
        NDIndex kept = new NDIndex(":, :, :" + length);
        try (NDArray old = cached.get(kept)) {
          buffer.set(kept, old);
        }
      }
      cached.close();
    }
    return buffer;
  }

  /** Columns the buffers hold (0 before the first append). */
  public int capacity() {
    return keys[0] == null ? 0 : (int) keys[0].getShape().get(2);
  }

  /**
   * Writes one new column's k, v [B, Hkv, 1, Dh] of layer {@code layer} at column {@link #length}
   * of buffers made by an earlier {@link #append} with room for it: no views, no copies beyond the
   * column itself.
   */
  void write(int layer, NDArray k, NDArray v) {
    if (keys[layer] == null || length >= keys[layer].getShape().get(2)) {
      throw new IllegalStateException("the cache has no room for column " + length);
    }
    NDIndex column = new NDIndex().addAllDim(2).addSliceDim(length, length + 1);
    keys[layer].set(column, k);
    values[layer].set(column, v);
  }

  /** Layer {@code layer}'s whole key buffer as [B, Hkv, Dh, capacity] (a view, kept). */
  NDArray keysTransposed(int layer) {
    if (keysTransposed[layer] == null) {
      keysTransposed[layer] = keys[layer].transpose(0, 1, 3, 2);
      keysTransposed[layer].attach(manager);
    }
    return keysTransposed[layer];
  }

  /** Layer {@code layer}'s whole value buffer [B, Hkv, capacity, Dh]. */
  NDArray values(int layer) {
    return values[layer];
  }

  /** Called once per forward pass, after every layer appended {@code newColumns}. */
  void advance(int newColumns) {
    length += newColumns;
  }

  /**
   * Keeps only the sequences {@code rows} (batch indices, in their new order): finished sequences
   * stop costing attention compute.
   */
  public void keepRows(long[] rows) {
    try (NDManager scratch = manager.newSubManager()) {
      NDArray index = scratch.create(rows);
      for (int layer = 0; layer < keys.length; layer++) {
        forgetView(layer);
        keys[layer] = kept(keys[layer], index);
        values[layer] = kept(values[layer], index);
      }
    }
  }

  private void forgetView(int layer) {
    if (keysTransposed[layer] != null) {
      keysTransposed[layer].close();
      keysTransposed[layer] = null;
    }
  }

  private NDArray kept(NDArray cached, NDArray index) {
    if (cached == null) {
      return null;
    }
    NDArray rows = cached.get(new NDIndex("{}", index));
    rows.attach(manager);
    cached.close();
    return rows;
  }

  @Override
  public void close() {
    manager.close();
  }
}
