package org.meft.adapter.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import java.util.Random;
import org.meft.adapter.AdapterMeters;
import org.meft.model.LinearDelta;
import org.meft.model.Scalar;

/** One LoRA branch: {@code delta(x) = (alpha / r) * dropout(x) A^T B^T}, A [r, in], B [out, r]. */
final class LoraDelta implements LinearDelta {
  final Parameter a;
  final Parameter b;
  private final float scale;
  private final float dropout;
  private final int rank;
  private final int out;
  private final AdapterMeters meters;

  LoraDelta(
      String name,
      int in,
      int out,
      LoraConfig config,
      Random random,
      NDManager manager,
      AdapterMeters meters) {
    float[] init = new float[config.rank() * in];
    double std = 1 / Math.sqrt(config.rank());
    for (int i = 0; i < init.length; i++) {
      init[i] = (float) (random.nextGaussian() * std);
    }
    a = Parameter.builder().setName(name + ".lora_A").setType(Parameter.Type.WEIGHT).build();
    b = Parameter.builder().setName(name + ".lora_B").setType(Parameter.Type.WEIGHT).build();
    a.setArray(manager.create(init, new Shape(config.rank(), in)));
    b.setArray(manager.zeros(new Shape(out, config.rank())));
    a.freeze(false);
    b.freeze(false);
    scale = config.alpha() / config.rank();
    dropout = config.dropout();
    rank = config.rank();
    this.out = out;
    this.meters = meters;
    meters.resident(LoraAdapters.residentBytes(rank, in, out));
  }

  @Override
  public NDArray forward(ParameterStore ps, NDArray x, boolean training) {
    long tokens = x.getShape().size() / x.getShape().getLastDimension();
    meters.pass(LoraAdapters.passBytes(tokens, rank, out));
    NDArray input = x;
    if (training && dropout > 0) {
      NDArray keep = x.getManager().randomUniform(0, 1, x.getShape()).gte(dropout);
      input = x.mul(keep.toType(x.getDataType(), false)).mul(Scalar.of(x, 1 / (1 - dropout)));
    }
    NDArray low = Linear.linear(input, ps.getValue(a, x.getDevice(), training)).head();
    return Linear.linear(low, ps.getValue(b, x.getDevice(), training))
        .head()
        .mul(Scalar.of(x, scale));
  }
}
