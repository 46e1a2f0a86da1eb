package org.meft.adapter.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import java.util.Random;
import org.meft.adapter.AdapterMeters;
import org.meft.model.LayerPass;
import org.meft.model.LinearDelta;
import org.meft.model.Precision;
import org.meft.model.Scalar;

/**
 * One LoRA branch: {@code delta(x) = (alpha / r) * dropout(x) A^T B^T}, A [r, in], B [out, r]. The
 * dropout mask is drawn from the micro-batch's seed and the branch's index ({@link
 * LayerPass#seedBranch}), so that a recomputed layer replays it.
 */
public final class LoraDelta implements LinearDelta {
  final Parameter a;
  final Parameter b;
  private final float scale;
  private final float dropout;
  private final int rank;
  private final int out;
  private final AdapterMeters meters;
  private final int branch; // this branch's index among the model's, for its dropout seed

  LoraDelta(
      String name,
      int in,
      int out,
      LoraConfig config,
      Random random,
      NDManager manager,
      AdapterMeters meters,
      int branch) {
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
    this.branch = branch;
    meters.resident(LoraAdapters.residentBytes(rank, in, out));
  }

  @Override
  public NDArray forward(LayerPass pass, NDArray x) {
    long tokens = x.getShape().size() / x.getShape().getLastDimension();
    meters.pass(LoraAdapters.passBytes(tokens, rank, out));
    NDArray input = Precision.atLeastFloat32(x); // the branch runs in float32 over any base
    if (pass.training() && dropout > 0) {
      pass.seedBranch(branch);
      NDArray keep = input.getManager().randomUniform(0, 1, input.getShape()).gte(dropout);
      input =
          input
              .mul(keep.toType(input.getDataType(), false))
              .mul(Scalar.of(input, 1 / (1 - dropout)));
    }
    NDArray low = Linear.linear(input, pass.value(a, x)).head();
    NDArray delta = Linear.linear(low, pass.value(b, x)).head().mul(Scalar.of(low, scale));
    return Precision.cast(delta, x.getDataType()); // added to the projection in its type
  }
}
