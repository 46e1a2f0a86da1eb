package org.meft.adapter;

import ai.djl.nn.Parameter;
import java.util.Map;
import java.util.Set;
import org.meft.store.HostStore;
import org.meft.store.StoreRate;

/**
 * One method's adapters inside one model, as {@link AdapterMethod#install} leaves them: what trains
 * on the device, what lives in host memory, and how to take them out again.
 */
public interface Adapters extends AutoCloseable {
  /**
   * The device parameters by their checkpoint names (the method's folder documents them), in a
   * fixed order.
   */
  Map<String, Parameter> deviceParameters();

  /** The device parameters whose AdamW moments live in host memory (none by default). */
  default Set<Parameter> hostMomentParameters() {
    return Set.of();
  }

  /** The host store of trainable rows, or null for methods without one. */
  default HostStore store() {
    return null;
  }

  /** The learning rate of the host store's values (the run's by default). */
  default StoreRate storeRate() {
    return StoreRate.RUN;
  }

  /**
   * Before the first step of a run (not a resumed one): adapters that start from the data (meft's
   * {@code key-source tokens}) watch {@code forwardPasses} run the model over training tokens, then
   * set themselves up from what they saw. Nothing by default.
   */
  default void initialiseFromTokens(Runnable forwardPasses) {}

  /** After each backward pass: moves gradients that live outside autograd to where they update. */
  default void collectGradients() {}

  /** Drops the gradients of a skipped step. */
  default void discardGradients() {}

  /** Takes the adapters out of the model and frees their memory; the model is as before. */
  @Override
  void close();
}
