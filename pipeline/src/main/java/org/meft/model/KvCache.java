package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * Keys and values of the columns already seen, per layer, so that generation feeds only the new
 * token. Each layer holds v in a buffer [B, Hkv, capacity, Dh] and k transposed, [B, Hkv, Dh,
 * capacity], the layout the scores' product q k^T reads (a product over a transposed view of a [..,
 * capacity, Dh] buffer measured 2.4x slower per decoded token on stories260K). New columns are
 * written into the buffers in place (a copy of the new columns only, not of the whole cache); a
 * cache made without a capacity doubles its buffers when full. The arrays live in the cache's own
 * manager and are freed by {@link #close()}.
 *
 * <p>A column is a slot in the buffer, not a position: in a left-padded batch, sequence b's token
 * at position p sits in column {@code pad_b + p}, and its attention mask hides the pad columns.
 */
public final class KvCache implements AutoCloseable {
  private final NDManager manager;
  private final NDArray[] keys; // per layer [B, Hkv, Dh, capacity]
  private final NDArray[] values; // per layer [B, Hkv, capacity, Dh]
  private final NDArray[] keyRows; // per layer, keys seen as [B, Hkv, capacity, Dh] (a view)
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
    this.keyRows = new NDArray[nLayers];
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
    if (values[layer] == null || end > values[layer].getShape().get(2)) {
      // Every layer's buffers take the capacity, which doubles when a pass outgrows it.
      if (end > capacity) {
        capacity = Math.max(end, 2 * capacity);
      }
      keys[layer] = grown(keys[layer], k.transpose(0, 1, 3, 2), 3);
      values[layer] = grown(values[layer], v, 2);
      forgetKeyRows(layer);
    }
    // Built, not parsed: NDIndex's string form runs a regular expression per call.
    keys[layer].set(columns(3, length, end), k.transpose(0, 1, 3, 2));
    values[layer].set(columns(2, length, end), v);
    // Views of the buffers, owned by the caller's (per-step) manager so they do not pile up here.
    NDArray kAll = keys[layer].get(columns(3, 0, end)).transpose(0, 1, 3, 2);
    NDArray vAll = values[layer].get(columns(2, 0, end));
    kAll.attach(k.getManager());
    vAll.attach(k.getManager());
    return new NDArray[] {kAll, vAll};
  }

  /** The index of columns [from, to) on {@code axis}, every element of the axes before it. */
  private static NDIndex columns(int axis, int from, int to) {
    return new NDIndex().addAllDim(axis).addSliceDim(from, to);
  }

  /**
   * A zero buffer shaped as {@code like} with {@code capacity} columns on {@code axis}, holding
   * {@code cached}'s first length columns.
   */
  private NDArray grown(NDArray cached, NDArray like, int axis) {
    long[] shape = like.getShape().getShape().clone();
    shape[axis] = capacity;
    NDArray buffer = manager.zeros(new Shape(shape), like.getDataType());
    if (cached != null) {
      if (length > 0) {
        NDIndex kept = columns(axis, 0, length);
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
    return values[0] == null ? 0 : (int) values[0].getShape().get(2);
  }

  /**
   * Writes one new column's k, v [B, Hkv, 1, Dh] of layer {@code layer} at column {@link #length}
   * of buffers made by an earlier {@link #append} with room for it: no copies beyond the column
   * itself (k through a view of its buffer made once).
   */
  void write(int layer, NDArray k, NDArray v) {
    if (values[layer] == null || length >= values[layer].getShape().get(2)) {
      throw new IllegalStateException("the cache has no room for column " + length);
    }
    if (keyRows[layer] == null) {
      keyRows[layer] = keys[layer].transpose(0, 1, 3, 2);
      keyRows[layer].attach(manager);
    }
    NDIndex column = columns(2, length, length + 1);
    keyRows[layer].set(column, k);
    values[layer].set(column, v);
  }

  /** Layer {@code layer}'s whole key buffer [B, Hkv, Dh, capacity]. */
  NDArray keysByColumn(int layer) {
    return keys[layer];
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
        forgetKeyRows(layer);
        keys[layer] = kept(keys[layer], index);
        values[layer] = kept(values[layer], index);
      }
    }
  }

  private void forgetKeyRows(int layer) {
    if (keyRows[layer] != null) {
      keyRows[layer].close();
      keyRows[layer] = null;
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
