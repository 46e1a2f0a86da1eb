package org.meft.adapter.lora;

import ai.djl.nn.Parameter;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.meft.adapter.Adapters;
import org.meft.adapter.DeviceBytes;
import org.meft.adapter.InstallContext;
import org.meft.model.DecoderLayer;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;

/**
 * The LoRA branches of one model, on the chosen projections of the chosen layers. Device
 * parameters: {@code layers.L.P.lora_A} [r, in] and {@code layers.L.P.lora_B} [out, r], P one of q,
 * k, v, o, gate, up, down.
 */
public final class LoraAdapters implements Adapters {
  private final Llama model;
  private final List<Integer> layers;
  private final Set<String> projections;
  private final Map<String, Parameter> parameters;

  private LoraAdapters(
      Llama model,
      List<Integer> layers,
      Set<String> projections,
      Map<String, Parameter> parameters) {
    this.model = model;
    this.layers = layers;
    this.projections = projections;
    this.parameters = parameters;
  }

  static LoraAdapters install(
      Llama model, LoraConfig config, List<Integer> layers, InstallContext context) {
    Random random = new Random(context.seed());
    Map<String, Parameter> parameters = new LinkedHashMap<>();
    for (int index : layers) {
      DecoderLayer layer = model.layers().get(index);
      for (String projection : LoraConfig.ALL_PROJECTIONS) {
        if (!config.projections().contains(projection)) {
          continue;
        }
        int[] inOut = inOut(model.config(), projection);
        LoraDelta delta =
            new LoraDelta(
                "layers." + index + "." + projection,
                inOut[0],
                inOut[1],
                config,
                random,
                context.manager(),
                context.meters(),
                parameters.size() / 2);
        layer.setDelta(projection, delta);
        parameters.put(delta.a.getName(), delta.a);
        parameters.put(delta.b.getName(), delta.b);
      }
    }
    return new LoraAdapters(
        model, layers, config.projections(), Collections.unmodifiableMap(parameters));
  }

  /** A, B [r, in], [out, r] with their gradients and AdamW moments, on the device. */
  public static DeviceBytes residentBytes(int rank, int in, int out) {
    return DeviceBytes.trainedWithMoments((long) rank * (in + out));
  }

  /** Held from one branch's forward until backward over M tokens: x A^T [M, r] and its output. */
  public static DeviceBytes passBytes(long m, int rank, int out) {
    return new DeviceBytes(0, 0, Float.BYTES * m * (rank + out), 0, 0);
  }

  /** A projection's input and output widths: {in, out} of its weight [out, in]. */
  public static int[] inOut(LlamaConfig c, String projection) {
    int q = c.nHeads() * c.headDim();
    return switch (projection) {
      case "q" -> new int[] {c.dim(), q};
      case "k", "v" -> new int[] {c.dim(), c.kvDim()};
      case "o" -> new int[] {q, c.dim()};
      case "gate", "up" -> new int[] {c.dim(), c.hiddenDim()};
      case "down" -> new int[] {c.hiddenDim(), c.dim()};
      default -> throw new IllegalArgumentException("no projection " + projection);
    };
  }

  @Override
  public Map<String, Parameter> deviceParameters() {
    return parameters;
  }

  @Override
  public void close() {
    for (int index : layers) {
      projections.forEach(p -> model.layers().get(index).setDelta(p, null));
    }
  }
}
