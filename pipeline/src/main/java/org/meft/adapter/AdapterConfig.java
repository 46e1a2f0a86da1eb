package org.meft.adapter;

import java.util.List;
import java.util.Map;

/**
 * One adapter method's configuration (MeftConfig, ParallelConfig, LoraConfig, FullConfig): an
 * immutable record that validates itself in its constructor, naming the setting as the user wrote
 * it.
 */
public interface AdapterConfig {
  /** The registered method this configures. */
  AdapterMethod method();

  /** The layers the adapter goes into. */
  LayerSelection layers();

  /**
   * The method's own settings ({@link AdapterMethod#settings()}), every default written out, as
   * {@link AdapterMethod#configure} reads them back.
   */
  Map<String, String> settings();

  /** The one-method configurations this is made of: itself, or a composition's two. */
  default List<AdapterConfig> parts() {
    return List.of(this);
  }
}
