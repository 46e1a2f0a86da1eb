package org.meft.adapter.full;

import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.meft.adapter.Adapters;
import org.meft.adapter.DeviceBytes;
import org.meft.adapter.InstallContext;
import org.meft.model.Llama;

/**
 * The base weights of one model made trainable: those of the chosen layers and every weight outside
 * the layers, under their Hugging Face names. Closing freezes the model again; the trained values
 * stay (full fine-tuning changes the model in place).
 */
public final class FullAdapters implements Adapters {
  private static final String LAYER_PREFIX = "model.layers.";
  private final Llama model;
  private final Map<String, Parameter> parameters;

  private FullAdapters(Llama model, Map<String, Parameter> parameters) {
    this.model = model;
    this.parameters = parameters;
  }

  static FullAdapters install(Llama model, List<Integer> layers, InstallContext context) {
    if (model.dataType() != DataType.FLOAT32) {
      // The weights would be trained and their AdamW moments kept in half precision.
      throw new IllegalArgumentException(
          "method full trains the base weights, which must then be float32: base-dtype is "
              + model.dataType()
              + "; use --base-dtype f32");
    }
    Map<String, Parameter> parameters = new LinkedHashMap<>();
    for (Llama.Weight weight : trained(model, layers)) {
      weight.parameter().freeze(false);
      parameters.put(weight.name(), weight.parameter());
      context.meters().resident(DeviceBytes.trainedWithMoments(weight.shape().size()));
    }
    return new FullAdapters(model, Collections.unmodifiableMap(parameters));
  }

  /** The weights that train: those of {@code layers} and every weight outside the layers. */
  static List<Llama.Weight> trained(Llama model, List<Integer> layers) {
    List<Llama.Weight> trained = new ArrayList<>();
    for (Llama.Weight weight : model.weights()) {
      boolean inLayer = weight.name().startsWith(LAYER_PREFIX);
      if (!inLayer || layers.contains(Integer.parseInt(weight.name().split("\\.")[2]))) {
        trained.add(weight);
      }
    }
    return trained;
  }

  /** Elements of {@link #trained} weights (their declared shapes: no array needs to exist). */
  static long trainedElements(Llama model, List<Integer> layers) {
    return trained(model, layers).stream().mapToLong(w -> w.shape().size()).sum();
  }

  @Override
  public Map<String, Parameter> deviceParameters() {
    return parameters;
  }

  @Override
  public void close() {
    model.freezeParameters(true);
  }
}
