package org.meft.plan;

import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.meft.adapter.AdapterCost;
import org.meft.adapter.AdapterMethod;
import org.meft.adapter.DeviceBytes;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.parallel.ParallelAdapter;
import org.meft.model.Llama;
import org.meft.settings.Setting;
import org.meft.store.StoreFormat;
import org.meft.train.DeviceAdamW;

/**
 * The memory a training configuration needs, before anything loads: device bytes by component, host
 * bytes by component, and bus bytes per optimizer step each way (in the spirit of DeepSpeed's ZeRO
 * estimators and Accelerate's {@code estimate-memory}). The adapter's parts are the sums of the
 * static functions its meters call ({@link AdapterMethod#cost}), so the plan and the meters agree
 * by construction; the base model's weights are counted from its weight shapes, its activations are
 * the estimate of {@link BaseActivations}.
 *
 * <p>The device total is a peak: everything held at the end of a micro-batch's forward (weights,
 * activations kept for backward, the adapter's rows and gradients, optimizer state) plus the
 * largest short-lived buffer on top.
 *
 * @param inputs what the plan is for
 * @param device device components, in {@link #DEVICE} order
 * @param host host components
 * @param adapterTransientBytes the adapter's largest short-lived buffer (part of the meters' peak)
 * @param hostToDeviceBytesPerStep bus bytes per optimizer step, host to device
 * @param deviceToHostBytesPerStep bus bytes per optimizer step, device to host
 */
public record MemoryPlan(
    PlanInputs inputs,
    List<Component> device,
    List<Component> host,
    long adapterTransientBytes,
    long hostToDeviceBytesPerStep,
    long deviceToHostBytesPerStep) {

  public static final String BASE_WEIGHTS = "base_weights";
  public static final String ACTIVATIONS = "activations";
  public static final String ADAPTER_PARAMETERS = "adapter_parameters";
  public static final String ADAPTER_ROWS = "adapter_rows";
  public static final String ADAPTER_ACTIVATIONS = "adapter_activations";
  public static final String ADAPTER_GRADIENTS = "adapter_gradients";
  public static final String OPTIMIZER_STATE = "optimizer_state";
  public static final String LARGEST_TRANSIENT = "largest_transient";
  public static final String HOST_STORE = "host_store";
  public static final String HOST_GRADIENTS = "host_gradients";
  public static final String STAGING = "staging_buffers";
  public static final String HOST_MOMENTS = "host_optimizer_moments";

  /** Device components, in the order they are listed. */
  public static final List<String> DEVICE =
      List.of(
          BASE_WEIGHTS,
          ACTIVATIONS,
          ADAPTER_PARAMETERS,
          ADAPTER_ROWS,
          ADAPTER_ACTIVATIONS,
          ADAPTER_GRADIENTS,
          OPTIMIZER_STATE,
          LARGEST_TRANSIENT);

  /** The adapter's device components: what {@code device_adapter_bytes_peak} meters. */
  static final List<String> ADAPTER =
      List.of(
          ADAPTER_PARAMETERS,
          ADAPTER_ROWS,
          ADAPTER_ACTIVATIONS,
          ADAPTER_GRADIENTS,
          OPTIMIZER_STATE);

  /** One line of the plan: a name (the JSON key), its bytes and what it holds. */
  public record Component(String name, long bytes, String what) {}

  public MemoryPlan {
    device = List.copyOf(device);
    host = List.copyOf(host);
  }

  public static MemoryPlan of(PlanInputs in) {
    List<Integer> layers = in.adapter().layers().resolve(in.model().nLayers());
    AdapterCost cost = in.adapter().method().cost(in.adapter(), in.model(), layers, in.tokens());
    // Per layer and step, a router's gradient goes to the host and its AdamW update comes back.
    long hostMomentElements = cost.hostMomentElementsPerLayer();
    long hostUpdateBus = layers.size() * DeviceAdamW.hostUpdateBusBytes(hostMomentElements);
    // What a pass holds: every layer's until the one backward, or one layer's at a time when
    // activations are recomputed (the meters' own rule, AdapterMeters.activationPeak).
    // Reversible layers hold theirs one layer at a time too, the layers above all of theirs.
    int reversible = in.reversibleLayers();
    long above = layers.stream().filter(l -> l >= reversible).count();
    DeviceBytes pass =
        in.recomputeActivations()
            ? cost.passPerLayer()
            : cost.passPerLayer().times(reversible > 0 ? (int) above + 1 : layers.size());
    DeviceBytes adapter = cost.resident().plus(pass);
    long passTransient = cost.transientBytes();
    if (in.reversible().enabled() && in.reversible().architecture().hasBlockAdapter()) {
      // The block adapters (MEFT1's G, MEFT2's F): resident, and one layer's pass at a time.
      int size = in.reversible().adapterSize();
      DeviceBytes blockPass = ParallelAdapter.passBytes(in.tokens(), size, in.model().dim());
      adapter =
          adapter
              .plus(ParallelAdapter.residentBytes(size, in.model().dim()).times(reversible))
              .plus(blockPass);
      pass = pass.plus(blockPass);
      passTransient = Math.max(passTransient, ParallelAdapter.transientBytes(in.tokens(), size));
    }
    // The routers' AdamW update briefly holds their Adam terms after the passes are freed: it
    // raises the peak only past what the passes hold.
    long adapterTransient =
        Math.max(passTransient, DeviceAdamW.hostUpdateBusBytes(hostMomentElements) - pass.total());
    int bytes = in.baseDtype().bytes();
    long b = in.batchSize();
    long t = in.seqLen();
    long baseTransient = BaseActivations.largestTransient(in.model(), b, t, bytes);
    List<Component> device =
        List.of(
            new Component(
                BASE_WEIGHTS,
                (baseWeightElements(in) - cost.trainedBaseElements()) * bytes,
                "frozen base weights in " + in.baseDtype()),
            new Component(
                ACTIVATIONS,
                reversible > 0
                    ? BaseActivations.keptReversible(in.model(), b, t, bytes, reversible)
                    : BaseActivations.kept(in.model(), b, t, bytes, in.recomputeActivations()),
                reversible > 0
                    ? "base activations kept for backward: the reversible stack's top + one"
                        + " layer's recomputation + the layers above (estimate)"
                    : in.recomputeActivations()
                        ? "base activations kept for backward: layer inputs + one layer (estimate)"
                        : "base activations kept for backward, every layer (estimate)"),
            new Component(
                ADAPTER_PARAMETERS, adapter.parameters(), "trainable parameters on the device"),
            new Component(ADAPTER_ROWS, adapter.rows(), "adapter rows resident per pass"),
            new Component(
                ADAPTER_ACTIVATIONS,
                adapter.activations(),
                "adapter activations kept for backward"),
            new Component(ADAPTER_GRADIENTS, adapter.gradients(), "gradients of parameters, rows"),
            new Component(OPTIMIZER_STATE, adapter.optimizerState(), "AdamW moments on the device"),
            new Component(
                LARGEST_TRANSIENT,
                Math.max(adapterTransient, baseTransient),
                "the largest short-lived buffer on top"));
    List<Component> host = new ArrayList<>();
    host.add(
        new Component(
            HOST_STORE,
            cost.hostStore(),
            in.adapter() instanceof MeftConfig meft
                ? storeWhat(meft.storeFormat())
                : "keys, values, AdamW moments, steps"));
    long accumulation = in.accumulation();
    host.add(
        new Component(
            HOST_GRADIENTS,
            cost.hostGradients().applyAsLong(accumulation),
            "gradients of the rows in flight, f32, staged per layer"));
    host.add(new Component(STAGING, cost.staging(), "gather buffers, 2 per layer"));
    host.add(
        new Component(
            HOST_MOMENTS,
            layers.size() * DeviceAdamW.hostMomentBytes(hostMomentElements),
            "AdamW moments of the routers"));
    long replay =
        in.recomputeActivations()
            ? cost.hostToDeviceReplayPerPass()
            : layers.isEmpty()
                ? 0
                : cost.hostToDeviceReplayPerPass() * (layers.size() - above) / layers.size();
    return new MemoryPlan(
        in,
        device,
        host,
        adapterTransient,
        accumulation * (cost.hostToDevicePerPass() + replay) + hostUpdateBus,
        accumulation * cost.deviceToHostPerPass() + hostUpdateBus);
  }

  /**
   * Every base weight's elements, from the shapes the loaders check weights against; a loaded
   * model's weights hold exactly these (compared with the {@code device_base_bytes} meter, when
   * there is one, in MemoryPlanTest).
   */
  public static long baseWeightElements(PlanInputs in) {
    long elements = 0;
    for (Llama.Weight w : new Llama(in.model()).weights()) {
      elements += w.shape().size();
    }
    return elements;
  }

  public long deviceBytes() {
    return device.stream().mapToLong(Component::bytes).sum();
  }

  public long hostBytes() {
    return host.stream().mapToLong(Component::bytes).sum();
  }

  /**
   * What the host-budget-mb allocator holds: the store, its staged gradients and the staging
   * buffers (the routers' moments are ordinary host tensors).
   */
  public long hostBudgetBytes() {
    return bytes(HOST_STORE) + bytes(HOST_GRADIENTS) + bytes(STAGING);
  }

  /** What a meft store holds, in its format. */
  private static String storeWhat(StoreFormat format) {
    return "keys, values "
        + Setting.spelled(format.dtype())
        + "; AdamW moments "
        + Setting.spelled(format.moments())
        + (format.trainKeys() ? " of keys and values" : " of values (keys frozen)")
        + "; steps";
  }

  /** The adapter's device bytes at peak, as the meters count them. */
  public long adapterDevicePeakBytes() {
    long sum = adapterTransientBytes;
    for (String name : ADAPTER) {
      sum += bytes(name);
    }
    return sum;
  }

  /** The component called {@code name}, device or host. */
  public long bytes(String name) {
    for (List<Component> list : List.of(device, host)) {
      for (Component c : list) {
        if (c.name().equals(name)) {
          return c.bytes();
        }
      }
    }
    throw new IllegalArgumentException("no plan component " + name);
  }

  /** The largest device component (what to name when the device does not fit). */
  public Component largestDevice() {
    Component largest = device.get(0);
    for (Component c : device) {
      if (c.bytes() > largest.bytes()) {
        largest = c;
      }
    }
    return largest;
  }

  /** The plan as a table: one line per component, the totals and the bus. */
  public String table() {
    StringBuilder s = new StringBuilder();
    PlanInputs in = inputs;
    s.append(
        String.format(
            Locale.ROOT,
            "memory plan: %s, %s, batch %d x %d tokens%s, base %s%n",
            in.adapter().method().name(),
            in.adapter().settings(),
            in.batchSize(),
            in.seqLen(),
            in.recomputeActivations()
                ? ", recomputing activations"
                : in.reversible().enabled()
                    ? ", "
                        + in.reversible().architecture().flagName()
                        + " on the lowest "
                        + in.reversibleLayers()
                        + " layers"
                    : "",
            in.baseDtype()));
    s.append(String.format(Locale.ROOT, "  %-26s %14s  %s%n", "device", "bytes", ""));
    device.forEach(c -> line(s, c));
    s.append(String.format(Locale.ROOT, "  %-26s %14s%n", "device total", human(deviceBytes())));
    s.append(String.format(Locale.ROOT, "  %-26s %14s%n", "host", "bytes"));
    host.forEach(c -> line(s, c));
    s.append(String.format(Locale.ROOT, "  %-26s %14s%n", "host total", human(hostBytes())));
    s.append(
        String.format(
            Locale.ROOT,
            "  bus per step: %s host->device, %s device->host%n",
            human(hostToDeviceBytesPerStep),
            human(deviceToHostBytesPerStep)));
    return s.toString();
  }

  private static void line(StringBuilder s, Component c) {
    s.append(
        String.format(Locale.ROOT, "  %-26s %14s  %s%n", c.name(), human(c.bytes()), c.what()));
  }

  public JsonObject toJson() {
    JsonObject json = new JsonObject();
    json.addProperty("method", inputs.adapter().method().name());
    inputs.adapter().settings().forEach(json::addProperty);
    json.addProperty("batch_size", inputs.batchSize());
    json.addProperty("seq_len", inputs.seqLen());
    json.addProperty("accumulation", inputs.accumulation());
    json.addProperty("recompute_activations", inputs.recomputeActivations());
    json.addProperty("reversible_layers", inputs.reversibleLayers());
    json.addProperty("base_dtype", inputs.baseDtype().toString());
    JsonObject deviceJson = new JsonObject();
    device.forEach(c -> deviceJson.addProperty(c.name(), c.bytes()));
    deviceJson.addProperty("total", deviceBytes());
    json.add("device_bytes", deviceJson);
    JsonObject hostJson = new JsonObject();
    host.forEach(c -> hostJson.addProperty(c.name(), c.bytes()));
    hostJson.addProperty("total", hostBytes());
    json.add("host_bytes", hostJson);
    json.addProperty("h2d_bytes_per_step", hostToDeviceBytesPerStep);
    json.addProperty("d2h_bytes_per_step", deviceToHostBytesPerStep);
    return json;
  }

  /** Binary units with one decimal: 1610612736 -> "1.50 GiB". */
  public static String human(long bytes) {
    String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double value = bytes;
    int unit = 0;
    while (Math.abs(value) >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit++;
    }
    return unit == 0 ? bytes + " B" : String.format(Locale.ROOT, "%.2f %s", value, units[unit]);
  }
}
