package org.meft.adapter.lora;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.meft.adapter.AdapterMeters;
import org.meft.model.DecoderLayer;
import org.meft.model.Llama;
import org.meft.model.LlamaConfig;

/** Puts LoRA branches on the chosen projections of the chosen layers, and takes them off. */
public final class LoraInjection {
  private static final List<String> ATTENTION = List.of("q", "k", "v", "o");
  private static final List<String> FFN = List.of("gate", "up", "down");

  private LoraInjection() {}

  /** Returns the new trainable parameters (A and B of every branch). */
  public static List<Parameter> inject(
      Llama model,
      LoraConfig config,
      List<Integer> layers,
      NDManager manager,
      long seed,
      AdapterMeters meters) {
    LlamaConfig c = model.config();
    Random random = new Random(seed);
    List<Parameter> parameters = new ArrayList<>();
    for (int index : layers) {
      DecoderLayer layer = model.layers().get(index);
      for (String projection : ATTENTION) {
        if (config.projections().contains(projection)) {
          int out =
              projection.equals("q")
                  ? c.nHeads() * c.headDim()
                  : projection.equals("o") ? c.dim() : c.kvDim();
          int in = projection.equals("o") ? c.nHeads() * c.headDim() : c.dim();
          LoraDelta delta =
              new LoraDelta(
                  "layers." + index + "." + projection, in, out, config, random, manager, meters);
          layer.attention().setDelta(projection, delta);
          parameters.add(delta.a);
          parameters.add(delta.b);
        }
      }
      for (String projection : FFN) {
        if (config.projections().contains(projection)) {
          int in = projection.equals("down") ? c.hiddenDim() : c.dim();
          int out = projection.equals("down") ? c.dim() : c.hiddenDim();
          LoraDelta delta =
              new LoraDelta(
                  "layers." + index + "." + projection, in, out, config, random, manager, meters);
          layer.feedForward().setDelta(projection, delta);
          parameters.add(delta.a);
          parameters.add(delta.b);
        }
      }
    }
    return parameters;
  }

  /** Removes every LoRA branch from the model. */
  public static void remove(Llama model) {
    for (DecoderLayer layer : model.layers()) {
      ATTENTION.forEach(p -> layer.attention().setDelta(p, null));
      FFN.forEach(p -> layer.feedForward().setDelta(p, null));
    }
  }
}
