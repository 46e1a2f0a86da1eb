package org.meft.train;

import com.google.gson.JsonObject;
import java.util.List;
import java.util.Map;

/**
 * What a run measured. {@code finalLoss} is the mean over the last 10% of steps.
 *
 * @param losses the loss of every optimizer step (NaN for skipped ones)
 * @param deviceBaseBytes bytes held by the frozen base weights, from the loaded tensors' types
 * @param hostStoreBytes off-heap bytes of the host store's parameters, moments and steps
 * @param hostGradientBytes off-heap bytes of its staged gradients at the end of the run (the most
 *     rows in flight of any step)
 * @param activationBytesKept the base activations kept for backward at the run's largest
 *     micro-batch, by the memory plan's accounting ({@code BaseActivations}); 0 when not planned
 */
public record TrainResult(
    String method,
    List<Float> losses,
    int steps,
    int skippedSteps,
    double tokensPerSecond,
    long trainableParams,
    long deviceAdapterBytesPeak,
    long deviceBaseBytes,
    long hostStoreBytes,
    long hostGradientBytes,
    double hostToDeviceBytesPerStep,
    double deviceToHostBytesPerStep,
    double meanRowsPerLayer,
    RetrievalStats retrieval,
    Map<String, Double> phaseMs,
    long activationBytesKept) {

  /**
   * The phase of a reversible run's recomputation: F and G recomputed and inputs rebuilt in the
   * walk down its stack (see {@code ReversibleTraining}).
   */
  public static final String REVERSIBLE_RECOMPUTE = "reversible_recompute";

  /** This result with the plan's activation bytes kept for backward. */
  public TrainResult withActivationBytesKept(long bytes) {
    return new TrainResult(
        method,
        losses,
        steps,
        skippedSteps,
        tokensPerSecond,
        trainableParams,
        deviceAdapterBytesPeak,
        deviceBaseBytes,
        hostStoreBytes,
        hostGradientBytes,
        hostToDeviceBytesPerStep,
        deviceToHostBytesPerStep,
        meanRowsPerLayer,
        retrieval,
        phaseMs,
        bytes);
  }

  /**
   * The share of the step time spent recomputing F and G and rebuilding inputs in the reversible
   * backward (its phase over the sum of all phases, which partition the step); 0 without it.
   */
  public double recomputeShare() {
    double total = phaseMs.values().stream().mapToDouble(Double::doubleValue).sum();
    return total == 0 ? 0 : phaseMs.getOrDefault(REVERSIBLE_RECOMPUTE, 0.0) / total;
  }

  public float initialLoss() {
    return losses.get(0);
  }

  public float finalLoss() {
    int tail = Math.max(1, losses.size() / 10);
    double sum = 0;
    int count = 0;
    for (float loss : losses.subList(losses.size() - tail, losses.size())) {
      if (Float.isFinite(loss)) {
        sum += loss;
        count++;
      }
    }
    return count == 0 ? Float.NaN : (float) (sum / count);
  }

  public JsonObject toJson() {
    JsonObject json = new JsonObject();
    json.addProperty("method", method);
    json.addProperty("initial_loss", initialLoss());
    json.addProperty("final_loss", finalLoss());
    json.addProperty("steps", steps);
    json.addProperty("skipped_steps", skippedSteps);
    json.addProperty("tokens_per_second", tokensPerSecond);
    json.addProperty("trainable_params", trainableParams);
    json.addProperty("device_adapter_bytes_peak", deviceAdapterBytesPeak);
    json.addProperty("device_base_bytes", deviceBaseBytes);
    json.addProperty("host_store_bytes", hostStoreBytes);
    json.addProperty("host_gradient_bytes", hostGradientBytes);
    json.addProperty("h2d_bytes_per_step", hostToDeviceBytesPerStep);
    json.addProperty("d2h_bytes_per_step", deviceToHostBytesPerStep);
    json.addProperty("mean_rows_per_layer", meanRowsPerLayer);
    json.addProperty("activation_bytes_kept", activationBytesKept);
    json.addProperty("recompute_share", recomputeShare());
    if (retrieval != null) {
      json.addProperty("mean_distinct_rows_per_layer", retrieval.meanDistinctRowsPerLayer());
      json.addProperty("kept_choice_fraction", retrieval.keptChoiceFraction());
      json.addProperty("rows_updated_fraction", retrieval.rowsUpdatedFraction());
      json.addProperty("mean_updates_per_updated_row", retrieval.meanUpdatesPerUpdatedRow());
      json.addProperty("expert_load_entropy", retrieval.expertLoadEntropy());
    }
    JsonObject phases = new JsonObject();
    phaseMs.forEach(phases::addProperty);
    json.add("phase_ms", phases);
    return json;
  }
}
