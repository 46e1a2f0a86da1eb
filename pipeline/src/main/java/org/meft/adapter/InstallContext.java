package org.meft.adapter;

import ai.djl.ndarray.NDManager;
import org.apache.arrow.memory.BufferAllocator;

/**
 * What an {@link AdapterMethod} installs with.
 *
 * @param manager where device parameters live
 * @param allocator where host memory (the meft store) lives; its limit is the budget
 * @param seed initialisation seed
 * @param initialise false when a checkpoint will overwrite every trainable value (restoring): host
 *     state may then be left at zero instead of drawing random numbers for nothing
 * @param meters the run's meters, shared by every adapter of the model
 * @param activeTokens which tokens of a padded batch the FFN adapters compute on
 */
public record InstallContext(
    NDManager manager,
    BufferAllocator allocator,
    long seed,
    boolean initialise,
    AdapterMeters meters,
    ActiveTokens activeTokens) {

  /** This context with another initialisation seed. */
  public InstallContext withSeed(long other) {
    return new InstallContext(manager, allocator, other, initialise, meters, activeTokens);
  }
}
