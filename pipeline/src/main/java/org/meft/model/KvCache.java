package org.meft.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * Keys and values of the positions already seen, per layer, so that generation feeds only the new
 * token. Each layer holds k, v of shape [B, Hkv, T, Dh]; the arrays live in the cache's own manager
 * and are freed by {@link #close()}.
 */
public final class KvCache implements AutoCloseable {
  private final NDManager manager;
  private final NDArray[] keys;
  private final NDArray[] values;
  private int length;

  public KvCache(NDManager parent, int nLayers) {
    this.manager = parent.newSubManager();
    this.keys = new NDArray[nLayers];
    this.values = new NDArray[nLayers];
  }

  /** Positions cached so far; the next token goes at this position. */
  public int length() {
    return length;
  }

  /**
   * Appends the new positions' k, v [B, Hkv, Tnew, Dh] to layer {@code layer} and returns the whole
   * [B, Hkv, length + Tnew, Dh] pair.
   */
  NDArray[] append(int layer, NDArray k, NDArray v) {
    keys[layer] = concatAndOwn(keys[layer], k);
    values[layer] = concatAndOwn(values[layer], v);
    return new NDArray[] {keys[layer], values[layer]};
  }

  private NDArray concatAndOwn(NDArray cached, NDArray fresh) {
    NDArray all = cached == null ? fresh.duplicate() : cached.concat(fresh, 2);
    all.attach(manager);
    if (cached != null) {
      cached.close();
    }
    return all;
  }

  /** Called once per forward pass, after every layer appended {@code newPositions}. */
  void advance(int newPositions) {
    length += newPositions;
  }

  @Override
  public void close() {
    manager.close();
  }
}
