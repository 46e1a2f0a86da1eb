package org.meft.adapter.meft;

/** Where the store's initial keys come from ({@code --key-source}). */
public enum KeySource {
  /** N(0, key-init^2), as the paper initialises them. */
  RANDOM,
  /** The hidden states of training tokens, grouped into experts ({@link TokenKeys}). */
  TOKENS
}
