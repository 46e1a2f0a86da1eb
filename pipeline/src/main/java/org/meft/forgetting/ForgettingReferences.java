package org.meft.forgetting;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.meft.load.LanguageModel;
import org.meft.load.ModelCache;

/**
 * A {@link ModelCache} loader that computes each base model's {@link ForgettingReference} when it
 * loads the base, before any adapter goes into it: installing an adapter changes the model (full
 * fine-tuning its weights, for good), so the base alone is only ever seen there. A reference holds
 * host arrays only and outlives the model's eviction from the cache, so a base key's reference is
 * computed once.
 */
public final class ForgettingReferences
    implements ModelCache.Loader<LanguageModel, ModelCache.LoadedAdapter> {
  private final ModelCache.Loader<LanguageModel, ModelCache.LoadedAdapter> loader;
  private final int prompts;
  private final Map<ModelCache.BaseKey, ForgettingReference> references = new ConcurrentHashMap<>();

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

  /** The reference of a base model this loader loaded. */
  public ForgettingReference reference(ModelCache.BaseKey base) {
    ForgettingReference reference = references.get(base);
    if (reference == null) {
      throw new IllegalStateException(
          prompts == 0
              ? "forgetting is not measured (0 story prompts)"
              : "no forgetting reference for a base model this cache did not load: " + base);
    }
    return reference;
  }

  @Override
  public LanguageModel loadBase(ModelCache.BaseKey key) {
    LanguageModel model = loader.loadBase(key);
    if (prompts > 0 && !references.containsKey(key)) {
      try {
        references.put(key, ForgettingReference.of(model, prompts));
      } catch (RuntimeException e) {
        model.close();
        throw e;
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
