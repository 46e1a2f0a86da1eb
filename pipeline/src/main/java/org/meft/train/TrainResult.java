package org.meft.train;

import com.google.gson.JsonObject;
import java.util.List;
import java.util.Map;

/**
 * What a run measured. {@code finalLoss} is the mean over the last 10% of steps.
 *
 * @param losses the loss of every optimizer step (NaN for skipped ones)
 * @param deviceBaseBytes bytes held by the frozen base weights, from the loaded tensors' types
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
    double hostToDeviceBytesPerStep,
    double deviceToHostBytesPerStep,
    double meanRowsPerLayer,
    RetrievalStats retrieval,
    Map<String, Double> phaseMs) {

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
    json.addProperty("h2d_bytes_per_step", hostToDeviceBytesPerStep);
    json.addProperty("d2h_bytes_per_step", deviceToHostBytesPerStep);
    json.addProperty("mean_rows_per_layer", meanRowsPerLayer);
    if (retrieval != null) {
      json.addProperty("mean_distinct_rows_per_layer", retrieval.meanDistinctRowsPerLayer());
      json.addProperty("kept_choice_fraction", retrieval.keptChoiceFraction());
      json.addProperty("rows_updated_fraction", retrieval.rowsUpdatedFraction());
      json.addProperty("mean_updates_per_updated_row", retrieval.meanUpdatesPerUpdatedRow());
    }
    JsonObject phases = new JsonObject();
    phaseMs.forEach(phases::addProperty);
    json.add("phase_ms", phases);
    return json;
  }
}
