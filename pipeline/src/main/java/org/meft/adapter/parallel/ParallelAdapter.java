package org.meft.adapter.parallel;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.Random;
import org.meft.adapter.ActiveTokens;
import org.meft.adapter.AdapterMeters;
import org.meft.adapter.DeviceBytes;
import org.meft.model.FfnAdapter;
import org.meft.model.LayerPass;
import org.meft.model.Precision;

/**
 * The dense parallel FFN adapter: {@code A(h) = ReLU(h K^T) V} with K, V [N, D] trainable on the
 * device. Keys start N(0, keyInit), values at zero, so training starts at the pretrained model.
 */
public final class ParallelAdapter extends AbstractBlock implements FfnAdapter {
  final Parameter keys; // [N, D]
  final Parameter values; // [N, D]
  private final AdapterMeters meters;
  private final ActiveTokens activeTokens;

  public ParallelAdapter(
      ParallelConfig config,
      int dim,
      long seed,
      NDManager manager,
      AdapterMeters meters,
      ActiveTokens activeTokens) {
    this.meters = meters;
    this.activeTokens = activeTokens;
    int n = config.adapterSize();
    float[] k = new float[n * dim];
    Random random = new Random(seed);
    for (int i = 0; i < k.length; i++) {
      k[i] = (float) random.nextGaussian() * config.keyInit();
    }
    keys = addParameter(Parameter.builder().setName("keys").setType(Parameter.Type.WEIGHT).build());
    values =
        addParameter(Parameter.builder().setName("values").setType(Parameter.Type.WEIGHT).build());
    keys.setArray(manager.create(k, new Shape(n, dim)));
    values.setArray(manager.zeros(new Shape(n, dim), DataType.FLOAT32));
    keys.freeze(false);
    values.freeze(false);
    meters.resident(residentBytes(n, dim));
  }

  /** K, V [N, D] with their gradients and AdamW moments, all on the device. */
  public static DeviceBytes residentBytes(int n, int dim) {
    return DeviceBytes.trainedWithMoments(2L * n * dim);
  }

  /**
   * Held from one layer's forward until backward over M tokens: ReLU(h K^T) [M, N], A(h) [M, D].
   */
  public static DeviceBytes passBytes(long m, int n, int dim) {
    return new DeviceBytes(0, 0, Float.BYTES * (m * n + m * dim), 0, 0);
  }

  /** h K^T [M, N], alive until its ReLU. */
  public static long transientBytes(long m, int n) {
    return Float.BYTES * m * n;
  }

  /** h [..., D], k [N, D], v [N, D] -> ReLU(h k^T) v [..., D]. */
  public static NDArray parallelAdapter(NDArray h, NDArray k, NDArray v) {
    NDArray activations;
    // ReLU keeps its output for backward, not its input: h k^T is freed here, not at scope end.
    try (NDArray scores = Linear.linear(h, k).head()) {
      activations = Activation.relu(scores);
    }
    return activations.matMul(v);
  }

  public Parameter keys() {
    return keys;
  }

  public Parameter values() {
    return values;
  }

  @Override
  public NDArray forward(LayerPass pass, NDArray n) {
    NDArray k = pass.value(keys, n);
    NDArray v = pass.value(values, n);
    long d = k.getShape().get(1);
    NDArray all = Precision.atLeastFloat32(n).reshape(-1, d); // [B*T, D], float32 over any base
    NDArray h = activeTokens.select(all); // [M, D]
    long tokens = h.getShape().get(0);
    long rows = k.getShape().get(0);
    meters.pass(passBytes(tokens, (int) rows, (int) d));
    meters.transientBytes(transientBytes(tokens, (int) rows));
    if (pass.kind() != LayerPass.Kind.REPLAY) { // a recomputation moves no new rows
      meters.rows((int) rows);
    }
    NDArray a = activeTokens.expand(parallelAdapter(h, k, v), all).reshape(n.getShape());
    return Precision.cast(a, n.getDataType()); // added to the residual stream in its type
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
    return new NDList(forward(ps, inputs.singletonOrThrow(), training));
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    return inputShapes;
  }
}
