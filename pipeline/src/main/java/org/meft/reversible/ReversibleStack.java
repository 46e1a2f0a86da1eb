package org.meft.reversible;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.meft.adapter.Adapters;
import org.meft.adapter.InstalledAdapters;
import org.meft.adapter.LayerSelection;
import org.meft.adapter.parallel.ParallelAdapter;
import org.meft.adapter.parallel.ParallelConfig;
import org.meft.model.LayerPass;
import org.meft.model.LayerStack;
import org.meft.model.Llama;
import org.meft.model.Rope;
import org.meft.model.Scalar;

/**
 * The lowest decoder layers of a model made reversible ({@code RevBertEncoder}): the embedding's
 * output h enters as [h, h], runs through {@link ReversibleLayer}s and leaves as the mean of the
 * two halves, which the layers above take as usual. Installed into the model as its {@link
 * LayerStack}, so that every forward (training, evaluation, generation with the KV cache) computes
 * the same function; its block adapters (MEFT1's G, MEFT2's F: dense {@link ParallelAdapter}s,
 * {@code ReLU(x K^T) V} on the stream, V at zero) are device parameters named {@code
 * layers.L.reversible.keys} / {@code .values}, attached to the run's {@link InstalledAdapters} so
 * that they train and are checkpointed with the rest. Closing takes the stack out of the model.
 */
public final class ReversibleStack implements LayerStack, Adapters {
  private static final float BLOCK_KEY_INIT = 0.02f;
  private final Llama model;
  private final ReversibleConfig config;
  private final List<ReversibleLayer> layers;
  private final Map<String, Parameter> parameters;
  private long recomputeNanos; // recomputing F and G and rebuilding inputs, over every backward

  private ReversibleStack(
      Llama model,
      ReversibleConfig config,
      List<ReversibleLayer> layers,
      Map<String, Parameter> parameters) {
    this.model = model;
    this.config = config;
    this.layers = layers;
    this.parameters = parameters;
  }

  /**
   * Makes the lowest layers of {@code model} reversible as {@code config} says (nothing when it is
   * not enabled), the block adapters in {@code manager} drawn from {@code seed}, and attaches the
   * stack to {@code adapters} (closing them takes it out again).
   */
  public static void install(
      Llama model,
      ReversibleConfig config,
      InstalledAdapters adapters,
      NDManager manager,
      long seed) {
    if (!config.enabled()) {
      return;
    }
    int depth = config.depth(model.config().nLayers());
    Architecture architecture = config.architecture();
    List<ReversibleLayer> layers = new ArrayList<>();
    Map<String, Parameter> parameters = new LinkedHashMap<>();
    for (int i = 0; i < depth; i++) {
      ParallelAdapter block = null;
      if (architecture.hasBlockAdapter()) {
        block =
            new ParallelAdapter(
                new ParallelConfig(config.adapterSize(), BLOCK_KEY_INIT, LayerSelection.ALL),
                model.config().dim(),
                seed + 7919L * (i + 1),
                manager,
                adapters.meters(),
                adapters.activeTokens());
        parameters.put("layers." + i + ".reversible.keys", block.keys());
        parameters.put("layers." + i + ".reversible.values", block.values());
      }
      layers.add(
          new ReversibleLayer(
              architecture, model.layers().get(i), block, config.lambda(), config.beta()));
    }
    ReversibleStack stack =
        new ReversibleStack(
            model, config, List.copyOf(layers), Collections.unmodifiableMap(parameters));
    model.setLowerStack(stack);
    adapters.attach(stack);
  }

  /** The stack installed in {@code model}, or null when its lowest layers are not reversible. */
  public static ReversibleStack of(Llama model) {
    return model.lowerStack() instanceof ReversibleStack stack ? stack : null;
  }

  public ReversibleConfig config() {
    return config;
  }

  @Override
  public int depth() {
    return layers.size();
  }

  @Override
  public NDArray forward(LayerPass pass, NDArray x) {
    Halves h = new Halves(x, x);
    for (ReversibleLayer layer : layers) {
      h = layer.forward(pass, h);
    }
    return merge(h);
  }

  /** The stack's output from its top halves: their mean, (x1 + x2) / 2. */
  public static NDArray merge(Halves top) {
    return top.first().add(top.second()).mul(Scalar.of(top.first(), 0.5f));
  }

  /**
   * The training forward without gradient, keeping nothing but the top: x_0 [B, T, D] (not closed)
   * -> the last reversible layer's output halves; {@code afterLayer} runs after each layer.
   */
  public Halves forwardKeepingTop(ParameterStore ps, NDArray x0, Rope rope, Runnable afterLayer) {
    return forwardKeepingTop(LayerPass.of(ps, rope, true), x0, afterLayer);
  }

  /** As above, in {@code pass} (a training pass from position 0). */
  public Halves forwardKeepingTop(LayerPass pass, NDArray x0, Runnable afterLayer) {
    Halves h = new Halves(x0, x0);
    for (ReversibleLayer layer : layers) {
      Halves next;
      try (NDScope scope = new NDScope()) {
        scope.suppressNotUsedWarning();
        next = layer.forward(pass, h);
        NDScope.unregister(next.first());
        NDScope.unregister(next.second());
      }
      if (h.first() != x0) {
        h.close();
      }
      h = next;
      afterLayer.run();
    }
    return h;
  }

  /**
   * The reversible backward from the top halves {@code top} (closed here) and their gradient {@code
   * dTop} (closed here): walking down, each layer's input is rebuilt from its output and F, G are
   * recomputed under {@code collector}; {@code afterBackward} runs after each backward call, {@code
   * afterLayer} after each layer. Returns dL/dx_0 [B, T, D], the sum of the bottom halves'
   * gradients (the stream entered twice).
   */
  public NDArray backward(
      GradientCollector collector,
      LayerPass pass,
      Halves top,
      Halves dTop,
      Runnable afterBackward,
      Runnable afterLayer) {
    Halves out = top;
    Halves dOut = dTop;
    for (int i = layers.size() - 1; i >= 0; i--) {
      ReversibleLayer.Step step = layers.get(i).backward(collector, pass, out, dOut, afterBackward);
      out.close();
      dOut.close();
      out = step.input();
      dOut = step.gradient();
      recomputeNanos += step.recomputeNanos();
      afterLayer.run();
    }
    out.close();
    NDArray dx0 = dOut.first().add(dOut.second());
    dOut.close();
    return dx0;
  }

  /**
   * Nanoseconds the backward walks have spent so far recomputing F and G and rebuilding inputs
   * (including what the adapters inside do there), not in the backward calls.
   */
  public long recomputeNanos() {
    return recomputeNanos;
  }

  /**
   * The rebuilt input of the stack from {@code top} (closed here), without gradient: for measuring
   * the reconstruction error against the forward's own input.
   */
  public Halves rebuild(ParameterStore ps, Halves top, Rope rope) {
    LayerPass pass = LayerPass.of(ps, rope, true);
    Halves out = top;
    for (int i = layers.size() - 1; i >= 0; i--) {
      Halves in = layers.get(i).inverse(pass, out);
      out.close();
      out = in;
    }
    return out;
  }

  @Override
  public Map<String, Parameter> deviceParameters() {
    return parameters;
  }

  @Override
  public void close() {
    if (model.lowerStack() == this) {
      model.setLowerStack(null);
    }
  }
}
