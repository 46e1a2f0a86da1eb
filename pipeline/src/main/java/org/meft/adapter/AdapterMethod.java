package org.meft.adapter;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;
import org.meft.settings.Setting;
import org.meft.settings.SettingValues;

/**
 * One adapter method, registered by name (the spirit of Hugging Face PEFT's {@code
 * register_peft_method}): its settings, how they are read into its {@link AdapterConfig}, and how
 * the adapter goes into a model. Each method is one folder {@code adapter/<name>/} holding the same
 * kinds of files: {@code <Name>Config} (settings, defaults, validation), {@code <Name>Method} (this
 * entry), the layer it adds, and {@code <Name>Adapters} (the method's adapters inside one model). A
 * method is registered by one line naming its entry in {@code
 * META-INF/services/org.meft.adapter.AdapterMethod}; {@link AdapterMethods} lists them.
 */
public interface AdapterMethod {
  /** The name on the command line and in manifests: meft, parallel, lora, full. */
  String name();

  /** One line for usage texts. */
  String description();

  /**
   * Whether the method may share a run with another one ({@code --method A+B}, {@link
   * ComposedMethod}): true for an adapter that installs through the model's hooks and names its
   * parameters by its own name; false for one that cannot share a model (full fine-tuning trains
   * the base weights themselves).
   */
  default boolean composable() {
    return true;
  }

  /**
   * The method's own settings, besides {@link AdapterSettings#LAYERS}, which every method takes.
   */
  List<Setting> settings();

  /**
   * Reads the method's settings ({@link #settings()}; absent ones take their defaults).
   *
   * @throws IllegalArgumentException naming the setting as the user wrote it
   */
  AdapterConfig configure(SettingValues values, LayerSelection layers);

  /**
   * Puts the adapter of {@code config} (one of this method's) into {@code layers} of {@code model}.
   */
  Adapters install(Llama model, AdapterConfig config, List<Integer> layers, InstallContext context);

  /**
   * What {@code config}'s adapters in {@code layers} of a {@code model}-shaped decoder cost when a
   * micro-batch holds {@code tokens} tokens, for the memory plan: from the same functions the
   * adapters' meters call.
   */
  AdapterCost cost(AdapterConfig config, LlamaConfig model, List<Integer> layers, long tokens);

  /** The setting that sizes the adapter (adapter-size, lora-rank); empty for a method without. */
  Optional<Setting> sizeSetting();

  /**
   * {@code config} with its {@link #sizeSetting} at {@code size}, the settings bounded by it
   * following (the planner searches the largest size that fits).
   */
  AdapterConfig resized(AdapterConfig config, int size);

  /**
   * The settings the demo's sweep gives this method, small enough for two cores ({@code
   * pretrained}: on a real checkpoint rather than a random model); empty for a method the demo
   * leaves out.
   */
  Optional<Map<String, String>> demoSettings(boolean pretrained);
}
