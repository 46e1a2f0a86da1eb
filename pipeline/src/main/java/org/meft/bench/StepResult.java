package org.meft.bench;

import com.google.gson.JsonObject;
import java.util.Map;

/**
 * The training steps of one configuration: the step time over the timed steps, tokens per second
 * from its median, the adapter's device bytes at peak, the host store's bytes, bus bytes per step
 * each way, and the median time of each phase ({@code rest}: the step less the adapter's host
 * phases, i.e. the device's forward, backward and optimizer work).
 */
public record StepResult(
    String method,
    int adapterSize,
    Sample step,
    double tokensPerSecond,
    long deviceAdapterBytesPeak,
    long hostStoreBytes,
    double hostToDeviceBytesPerStep,
    double deviceToHostBytesPerStep,
    double meanRowsPerLayer,
    Map<String, Double> phaseMs,
    float firstLoss,
    float lastLoss) {

  /** "meft-16384", "parallel-4096", "lora", "meft+meft1-4096" (reversible). */
  public String label() {
    return adapterSize == 0 ? method : method + "-" + adapterSize;
  }

  public JsonObject toJson() {
    JsonObject json = new JsonObject();
    json.addProperty("method", method);
    json.addProperty("adapter_size", adapterSize);
    json.add("step", step.toJson());
    json.addProperty("tokens_per_s", tokensPerSecond);
    json.addProperty("device_adapter_bytes_peak", deviceAdapterBytesPeak);
    json.addProperty("host_store_bytes", hostStoreBytes);
    json.addProperty("h2d_bytes_per_step", hostToDeviceBytesPerStep);
    json.addProperty("d2h_bytes_per_step", deviceToHostBytesPerStep);
    json.addProperty("mean_rows_per_layer", meanRowsPerLayer);
    JsonObject phases = new JsonObject();
    phaseMs.forEach(phases::addProperty);
    json.add("phase_ms", phases);
    json.addProperty("first_loss", firstLoss);
    json.addProperty("last_loss", lastLoss);
    return json;
  }
}
