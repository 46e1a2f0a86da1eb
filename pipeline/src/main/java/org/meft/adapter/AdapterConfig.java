package org.meft.adapter;

/**
 * One adapter method's configuration (MeftConfig, ParallelConfig, LoraConfig, FullConfig); each
 * validates itself in its constructor.
 */
public interface AdapterConfig {
  /** The method's name on the command line: meft, parallel, lora or full. */
  String method();

  /** The layers the adapter goes into. */
  LayerSelection layers();
}
