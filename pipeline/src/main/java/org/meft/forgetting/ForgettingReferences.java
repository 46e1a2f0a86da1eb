package org.meft.forgetting;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import org.meft.load.LanguageModel;
import org.meft.load.ModelCache;

/**
 * A {@link ModelCache} loader that computes each base model's {@link ForgettingReference} when it
 * loads the base, before any adapter goes into it: installing an adapter changes the model (full
 * fine-tuning its weights, for good), so the base alone is only ever seen there. A reference holds
 * host arrays only and outlives the model's eviction from the cache, so a base key's reference is
 * computed once: when two slots load the same base at once, the second does not compute it again,
 * and {@link #reference} waits for the first.
 */
public final class ForgettingReferences
    implements ModelCache.Loader<LanguageModel, ModelCache.LoadedAdapter> {
  private final ModelCache.Loader<LanguageModel, ModelCache.LoadedAdapter> loader;
  private final int prompts;
  private final Map<ModelCache.BaseKey, CompletableFuture<ForgettingReference>> references =
      new ConcurrentHashMap<>();

  /** Loads with {@code loader}; references of the first {@code prompts} story prompts (0: none). */
  public ForgettingReferences(
      ModelCache.Loader<LanguageModel, ModelCache.LoadedAdapter> loader, int prompts) {
    Forgetting.PROMPTS.check(prompts);
    this.loader = loader;
    this.prompts = prompts;
  }

  /** The story prompts each reference continues; 0 when forgetting is not measured. */
  public int prompts() {
    return prompts;
  }

  /** The reference of a base model this loader loaded, once it is computed. */
  public ForgettingReference reference(ModelCache.BaseKey base) {
    CompletableFuture<ForgettingReference> reference = references.get(base);
    if (reference == null) {
      throw new IllegalStateException(
          prompts == 0
              ? "forgetting is not measured (0 story prompts)"
              : "no forgetting reference for a base model this cache did not load: " + base);
    }
    try {
      return reference.join();
    } catch (CompletionException e) {
      throw new IllegalStateException(
          "the forgetting reference of " + base.model() + " failed: " + e.getCause(), e);
    }
  }

  @Override
  public LanguageModel loadBase(ModelCache.BaseKey key) {
    LanguageModel model = loader.loadBase(key);
    if (prompts > 0) {
      CompletableFuture<ForgettingReference> mine = new CompletableFuture<>();
      if (references.putIfAbsent(key, mine) == null) {
        try {
          mine.complete(ForgettingReference.of(model, prompts));
        } catch (RuntimeException e) {
          references.remove(key, mine); // the next load of this base tries again
          mine.completeExceptionally(e);
          model.close();
          throw e;
        }
      }
    }
    return model;
  }

  @Override
  public ModelCache.LoadedAdapter installAdapter(LanguageModel model, Path checkpoint) {
    return loader.installAdapter(model, checkpoint);
  }

  @Override
  public Path checkpointOf(Path path) {
    return loader.checkpointOf(path);
  }
}
