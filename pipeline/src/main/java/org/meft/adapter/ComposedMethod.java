package org.meft.adapter;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.settings.Setting;
import org.meft.settings.SettingValues;

/**
 * Two registered methods in one run, named {@code A+B} (e.g. {@code meft+lora}: the sparse rows
 * hold the facts, a small dense companion learns what every fact shares, such as the answer's
 * format and where it stops).
 *
 * <ul>
 *   <li>Which compose: any two different methods that are {@link AdapterMethod#composable()}
 *       ({@code full} is not: it trains the base weights themselves). Each installs through the
 *       model's own hooks: FFN adapters add up ({@code DecoderLayer.addFfnAdapter}, so meft and
 *       parallel share a layer), while a projection holds one delta ({@code DecoderLayer.setDelta}
 *       refuses a second at install).
 *   <li>Settings: the union of both methods' settings. A name both declare (meft's and parallel's
 *       {@code adapter-size} and {@code key-init}) is the first method's as written and the
 *       second's as {@code B.name}, e.g. {@code --method meft+parallel --adapter-size 16384
 *       --parallel.adapter-size 256}, in flags, sweep files and manifests alike. Both adapters go
 *       into the same {@code layers}.
 *   <li>The first method is the primary: its setting sizes the run ({@link #sizeSetting}, the
 *       planner's size search), the second keeps its size.
 *   <li>Costs add up ({@link AdapterCost#plus}); device parameters keep each method's checkpoint
 *       names; a run holds at most one host store.
 *   <li>The second method installs from a seed of its own ({@link ComposedAdapters}).
 * </ul>
 *
 * <p>Compositions are not registered: {@link AdapterMethods#named} builds one from its name, and
 * {@link AdapterMethods#compositions()} lists every pair.
 *
 * @param first the primary method, A
 * @param second the companion, B
 */
public record ComposedMethod(AdapterMethod first, AdapterMethod second) implements AdapterMethod {
  /** Joins the two methods' names: {@code meft+lora}. */
  public static final String JOIN = "+";

  /**
   * @throws IllegalArgumentException if the two are one method, or either does not compose
   */
  public ComposedMethod {
    String name = first.name() + JOIN + second.name();
    if (first.name().equals(second.name())) {
      throw new IllegalArgumentException(
          "method " + name + ": a method composes with another method, not with itself");
    }
    for (AdapterMethod method : List.of(first, second)) {
      if (!method.composable()) {
        throw new IllegalArgumentException(
            "method " + name + ": " + method.name() + " composes with no other method");
      }
    }
  }

  @Override
  public String name() {
    return first.name() + JOIN + second.name();
  }

  @Override
  public String description() {
    return first.name() + " with " + second.name() + " beside it";
  }

  /** A composition does not compose again: a run holds two methods at most. */
  @Override
  public boolean composable() {
    return false;
  }

  /** The first method's settings, then the second's, each under {@link #secondName}. */
  @Override
  public List<Setting> settings() {
    List<Setting> settings = new ArrayList<>(first.settings());
    second.settings().forEach(s -> settings.add(s.named(secondName(s.name()))));
    return List.copyOf(settings);
  }

  /**
   * The name the second method's setting {@code name} takes here: {@code B.name} where the first
   * method declares {@code name} too, else {@code name} itself.
   */
  public String secondName(String name) {
    boolean clash = first.settings().stream().anyMatch(s -> s.name().equals(name));
    return clash ? second.name() + "." + name : name;
  }

  /**
   * @throws IllegalArgumentException naming the setting; for the second method's, prefixed with its
   *     name
   */
  @Override
  public AdapterConfig configure(SettingValues values, LayerSelection layers) {
    AdapterConfig a = first.configure(values, layers);
    Map<String, String> own = new HashMap<>(values.values());
    for (Setting s : second.settings()) {
      String written = secondName(s.name());
      if (!written.equals(s.name())) {
        own.remove(s.name()); // the first method's
        if (values.values().containsKey(written)) {
          own.put(s.name(), values.values().get(written));
        }
      }
    }
    try {
      return new ComposedConfig(a, second.configure(new SettingValues(own), layers));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          second.name() + " of " + name() + ": " + e.getMessage(), e);
    }
  }

  @Override
  public Adapters install(
      Llama model, AdapterConfig config, List<Integer> layers, InstallContext context) {
    return ComposedAdapters.install(model, (ComposedConfig) config, layers, context);
  }

  @Override
  public AdapterCost cost(
      AdapterConfig config, LlamaConfig model, List<Integer> layers, long tokens) {
    ComposedConfig c = (ComposedConfig) config;
    return first
        .cost(c.first(), model, layers, tokens)
        .plus(second.cost(c.second(), model, layers, tokens));
  }

  @Override
  public Optional<Setting> sizeSetting() {
    return first.sizeSetting();
  }

  /** The first method at {@code size}; the second as it was. */
  @Override
  public AdapterConfig resized(AdapterConfig config, int size) {
    ComposedConfig c = (ComposedConfig) config;
    return new ComposedConfig(first.resized(c.first(), size), c.second());
  }

  /** The demo sweeps the registered methods alone. */
  @Override
  public Optional<Map<String, String>> demoSettings(boolean pretrained) {
    return Optional.empty();
  }
}
