package org.meft.plan;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.OptionalInt;
import java.util.function.ToLongFunction;
import org.meft.adapter.AdapterConfig;

/**
 * The limits a plan is held to, each optional (0: none): the device's memory, the host store's
 * off-heap budget (what the {@code host-budget-mb} allocator holds: store and staging buffers) and
 * the host's memory (every host component).
 */
public record PlanLimits(long deviceBytes, long hostBudgetBytes, long hostMemoryBytes) {

  /** One limit's outcome and the largest adapter size that would meet it. */
  public record Verdict(
      String limit,
      String setting,
      long limitBytes,
      long plannedBytes,
      String largestPart,
      long largestPartBytes,
      String sizeSetting,
      OptionalInt largestSize) {
    public boolean fits() {
      return plannedBytes <= limitBytes;
    }

    /** One line: fits, or what does not fit and the largest size that would. */
    public String describe() {
      String head =
          String.format(
              Locale.ROOT,
              "%s: plan %s, limit %s (--%s)",
              limit,
              MemoryPlan.human(plannedBytes),
              MemoryPlan.human(limitBytes),
              setting);
      if (fits()) {
        return head + ": fits";
      }
      String size =
          sizeSetting == null
              ? ""
              : largestSize.isPresent()
                  ? String.format(
                      Locale.ROOT,
                      "; the largest %s that fits is %d",
                      sizeSetting,
                      largestSize.getAsInt())
                  : "; no " + sizeSetting + " fits";
      return String.format(
          Locale.ROOT,
          "%s: does not fit; its largest component is %s (%s)%s",
          head,
          largestPart,
          MemoryPlan.human(largestPartBytes),
          size);
    }

    JsonObject toJson() {
      JsonObject json = new JsonObject();
      json.addProperty("limit", limit);
      json.addProperty("limit_bytes", limitBytes);
      json.addProperty("planned_bytes", plannedBytes);
      json.addProperty("fits", fits());
      if (sizeSetting != null && largestSize.isPresent()) {
        json.addProperty("largest_" + sizeSetting.replace('-', '_'), largestSize.getAsInt());
      }
      return json;
    }
  }

  /** The verdict for each limit that is set. */
  public List<Verdict> verdicts(MemoryPlan plan) {
    List<Verdict> verdicts = new ArrayList<>();
    if (deviceBytes > 0) {
      MemoryPlan.Component part = plan.largestDevice();
      verdicts.add(
          verdict(
              plan,
              "device memory",
              "device-memory-gb",
              deviceBytes,
              MemoryPlan::deviceBytes,
              part.name(),
              part.bytes()));
    }
    if (hostBudgetBytes > 0) {
      verdicts.add(
          verdict(
              plan,
              "host store budget",
              "host-budget-mb",
              hostBudgetBytes,
              MemoryPlan::hostBudgetBytes,
              MemoryPlan.HOST_STORE,
              plan.bytes(MemoryPlan.HOST_STORE)));
    }
    if (hostMemoryBytes > 0) {
      verdicts.add(
          verdict(
              plan,
              "host memory",
              "host-memory-gb",
              hostMemoryBytes,
              MemoryPlan::hostBytes,
              MemoryPlan.HOST_STORE,
              plan.bytes(MemoryPlan.HOST_STORE)));
    }
    return verdicts;
  }

  private static Verdict verdict(
      MemoryPlan plan,
      String limit,
      String setting,
      long limitBytes,
      ToLongFunction<MemoryPlan> planned,
      String part,
      long partBytes) {
    long bytes = planned.applyAsLong(plan);
    OptionalInt largest =
        bytes <= limitBytes
            ? OptionalInt.empty()
            : AdapterSize.largest(plan.inputs(), p -> planned.applyAsLong(p) <= limitBytes);
    return new Verdict(
        limit,
        setting,
        limitBytes,
        bytes,
        part,
        partBytes,
        AdapterSize.setting(plan.inputs().adapter()),
        largest);
  }

  /** The largest adapter size under which the plan meets every limit that is set. */
  public OptionalInt largestSize(MemoryPlan plan) {
    return AdapterSize.largest(plan.inputs(), this::met);
  }

  /** The setting that sizes {@code adapter} (adapter-size, lora-rank), or null (full). */
  public static String sizeSetting(AdapterConfig adapter) {
    return AdapterSize.setting(adapter);
  }

  /** The largest adapter size that fits {@code bytes} of device memory. */
  public static OptionalInt largestSizeForDevice(PlanInputs in, long bytes) {
    return AdapterSize.largest(in, p -> p.deviceBytes() <= bytes);
  }

  private boolean met(MemoryPlan plan) {
    return verdicts(plan).stream().allMatch(Verdict::fits);
  }

  /**
   * Refuses a plan that exceeds a limit, naming the limit, its largest component and the largest
   * adapter size that would fit.
   *
   * @throws PlanRefusedException when a limit is exceeded
   */
  public void check(MemoryPlan plan) {
    List<String> failed = new ArrayList<>();
    for (Verdict v : verdicts(plan)) {
      if (!v.fits()) {
        failed.add(v.describe());
      }
    }
    if (!failed.isEmpty()) {
      throw new PlanRefusedException(
          "the memory plan does not fit, refused before loading any weights: "
              + String.join("; ", failed));
    }
  }

  public JsonArray toJson(MemoryPlan plan) {
    JsonArray array = new JsonArray();
    verdicts(plan).forEach(v -> array.add(v.toJson()));
    return array;
  }
}
