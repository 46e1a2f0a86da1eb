package org.meft.plan;

import java.util.List;
import org.apache.arrow.memory.rounding.DefaultRoundingPolicy;
import org.meft.adapter.AdapterConfig;
import org.meft.adapter.DeviceBytes;
import org.meft.adapter.full.FullConfig;
import org.meft.adapter.lora.LoraAdapters;
import org.meft.adapter.lora.LoraConfig;
import org.meft.adapter.meft.MeftAdapter;
import org.meft.adapter.meft.MeftConfig;
import org.meft.adapter.parallel.ParallelAdapter;
import org.meft.adapter.parallel.ParallelConfig;
import org.meft.model.Llama;
import org.meft.store.HostStore;
import org.meft.train.DeviceAdamW;

/**
 * What an adapter costs over its layers, added up from the same static functions its meters call
 * (MeftAdapter.passBytes, ParallelAdapter.residentBytes, LoraAdapters.passBytes, ...).
 *
 * @param resident device bytes held for the whole run
 * @param pass device bytes one micro-batch's forward holds until backward, all layers
 * @param transientBytes the largest short-lived adapter buffer on top
 * @param hostToDevicePerPass bus bytes per micro-batch, host to device
 * @param deviceToHostPerPass bus bytes per micro-batch, device to host
 * @param hostToDevicePerStep bus bytes per optimizer step (host-side optimizer state)
 * @param deviceToHostPerStep likewise, device to host
 * @param hostStore the host store (keys, values, moments, gradient accumulators, steps)
 * @param staging the host buffers rows are gathered into
 * @param hostMoments AdamW moments of device parameters kept in host memory
 * @param trainedBaseElements base weights the adapter trains (full): held in float32 as parameters,
 *     not as base weights
 */
record AdapterCost(
    DeviceBytes resident,
    DeviceBytes pass,
    long transientBytes,
    long hostToDevicePerPass,
    long deviceToHostPerPass,
    long hostToDevicePerStep,
    long deviceToHostPerStep,
    long hostStore,
    long staging,
    long hostMoments,
    long trainedBaseElements) {

  static AdapterCost of(PlanInputs in) {
    AdapterConfig adapter = in.adapter();
    if (adapter instanceof MeftConfig c) {
      return meft(in, c);
    }
    if (adapter instanceof ParallelConfig c) {
      return parallel(in, c);
    }
    if (adapter instanceof LoraConfig c) {
      return lora(in, c);
    }
    if (adapter instanceof FullConfig) {
      return full(in);
    }
    throw new IllegalArgumentException("no memory plan for method " + adapter.method().name());
  }

  /** S = maxRows: the cap, which the union of the tokens' top-K rows reaches in practice. */
  private static AdapterCost meft(PlanInputs in, MeftConfig c) {
    int layers = in.adaptedLayers();
    int d = in.model().dim();
    long m = in.tokens();
    int s = (int) Math.min(c.maxRows(), m * c.topK());
    long routerElements = (long) c.experts() * d;
    long buffer =
        DefaultRoundingPolicy.DEFAULT_ROUNDING_POLICY.getRoundedSize(
            MeftAdapter.transferBufferBytes(c.maxRows(), d));
    return new AdapterCost(
        MeftAdapter.residentBytes(c.experts(), d).times(layers),
        MeftAdapter.passBytes(m, s, c.topK(), d).times(layers),
        Math.max(MeftAdapter.transientBytes(m, s), DeviceAdamW.hostUpdateBusBytes(routerElements)),
        layers * MeftAdapter.gatherBusBytes(m, s, c.topK(), d),
        layers * (MeftAdapter.routeBusBytes(m, c.probes(), d) + MeftAdapter.scatterBusBytes(s, d)),
        layers * DeviceAdamW.hostUpdateBusBytes(routerElements),
        layers * DeviceAdamW.hostUpdateBusBytes(routerElements),
        HostStore.bytesNeeded(layers, c.adapterSize(), d),
        layers * 2 * buffer,
        layers * DeviceAdamW.hostMomentBytes(routerElements),
        0);
  }

  private static AdapterCost parallel(PlanInputs in, ParallelConfig c) {
    int layers = in.adaptedLayers();
    int d = in.model().dim();
    long m = in.tokens();
    return onDevice(
        ParallelAdapter.residentBytes(c.adapterSize(), d).times(layers),
        ParallelAdapter.passBytes(m, c.adapterSize(), d).times(layers),
        ParallelAdapter.transientBytes(m, c.adapterSize()),
        0);
  }

  private static AdapterCost lora(PlanInputs in, LoraConfig c) {
    DeviceBytes resident = DeviceBytes.NONE;
    DeviceBytes pass = DeviceBytes.NONE;
    for (String projection : LoraConfig.ALL_PROJECTIONS) {
      if (c.projections().contains(projection)) {
        int[] inOut = LoraAdapters.inOut(in.model(), projection);
        resident = resident.plus(LoraAdapters.residentBytes(c.rank(), inOut[0], inOut[1]));
        pass = pass.plus(LoraAdapters.passBytes(in.tokens(), c.rank(), inOut[1]));
      }
    }
    int layers = in.adaptedLayers();
    return onDevice(resident.times(layers), pass.times(layers), 0, 0);
  }

  /** The chosen layers' weights and every weight outside the layers (as FullAdapters trains). */
  private static AdapterCost full(PlanInputs in) {
    List<Integer> layers = in.adapter().layers().resolve(in.model().nLayers());
    long elements = 0;
    for (Llama.Weight w : new Llama(in.model()).weights()) {
      boolean inLayer = w.name().startsWith("model.layers.");
      if (!inLayer || layers.contains(Integer.parseInt(w.name().split("\\.")[2]))) {
        elements += w.shape().size();
      }
    }
    return onDevice(DeviceBytes.trainedWithMoments(elements), DeviceBytes.NONE, 0, elements);
  }

  private static AdapterCost onDevice(
      DeviceBytes resident, DeviceBytes pass, long transientBytes, long trainedBaseElements) {
    return new AdapterCost(
        resident, pass, transientBytes, 0, 0, 0, 0, 0, 0, 0, trainedBaseElements);
  }
}
