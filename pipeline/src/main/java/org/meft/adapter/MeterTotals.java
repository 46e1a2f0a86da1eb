package org.meft.adapter;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

/**
 * The counts of {@link AdapterMeters} that describe a whole run rather than one process: bytes
 * across the bus each way, rows moved and layer passes (for the mean rows per layer), and the
 * device bytes' peak. A checkpoint carries them (in the trainer state), so that a resumed run's
 * metrics cover every step, as the uninterrupted run's do. Time per phase is not among them: it is
 * a speed, measured per process.
 */
public record MeterTotals(
    long hostToDeviceBytes,
    long deviceToHostBytes,
    long rowsMoved,
    long layerPasses,
    long deviceBytesPeak) {

  public static final MeterTotals NONE = new MeterTotals(0, 0, 0, 0, 0);

  public MeterTotals {
    if (hostToDeviceBytes < 0
        || deviceToHostBytes < 0
        || rowsMoved < 0
        || layerPasses < 0
        || deviceBytesPeak < 0) {
      throw new IllegalArgumentException("meter totals must be >= 0");
    }
  }

  public JsonObject toJson() {
    JsonObject json = new JsonObject();
    json.addProperty("h2d_bytes", hostToDeviceBytes);
    json.addProperty("d2h_bytes", deviceToHostBytes);
    json.addProperty("rows_moved", rowsMoved);
    json.addProperty("layer_passes", layerPasses);
    json.addProperty("device_adapter_bytes_peak", deviceBytesPeak);
    return json;
  }

  /**
   * Reads {@link #toJson}'s output; {@code null} (a checkpoint written before the totals were
   * carried) reads as {@link #NONE}.
   *
   * @throws IllegalArgumentException naming the malformed field
   */
  public static MeterTotals fromJson(JsonElement element) {
    if (element == null || element.isJsonNull()) {
      return NONE;
    }
    if (!element.isJsonObject()) {
      throw new IllegalArgumentException("trainer_state.meters: expected an object");
    }
    JsonObject json = element.getAsJsonObject();
    return new MeterTotals(
        number(json, "h2d_bytes"),
        number(json, "d2h_bytes"),
        number(json, "rows_moved"),
        number(json, "layer_passes"),
        number(json, "device_adapter_bytes_peak"));
  }

  private static long number(JsonObject json, String field) {
    JsonElement value = json.get(field);
    try {
      return value.getAsLong();
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          "trainer_state.meters." + field + ": expected an integer, got " + value);
    }
  }
}
