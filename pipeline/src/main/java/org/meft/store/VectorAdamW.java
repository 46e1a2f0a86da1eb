package org.meft.store;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link StoreLayer#adamWInPlace}'s arithmetic with the JDK Vector API: four float32 lanes widened
 * to four doubles, updated, narrowed back. Every operation is the scalar one lane-wise (multiplies
 * and adds separate, no fused multiply-add), so the results are bit-identical to the plain loop.
 */
final class VectorAdamW {
  private static final VectorSpecies<Float> F = FloatVector.SPECIES_128;
  private static final VectorSpecies<Double> D = DoubleVector.SPECIES_256;

  private VectorAdamW() {}

  /** Loaded only when the Vector API is present (see {@link VectorApi#AVAILABLE}). */
  static void update(
      float[] w,
      float[] m,
      float[] v,
      float[] g,
      double beta1,
      double beta2,
      double eps,
      double decay,
      double stepSize,
      double bias2Sqrt) {
    int bound = F.loopBound(w.length);
    for (int i = 0; i < bound; i += F.length()) {
      DoubleVector gi = wide(g, i);
      DoubleVector mi = wide(m, i).mul(beta1).add(gi.mul(1 - beta1));
      DoubleVector vi = wide(v, i).mul(beta2).add(gi.mul(1 - beta2).mul(gi));
      DoubleVector denom = vi.sqrt().div(bias2Sqrt).add(eps);
      DoubleVector wi = wide(w, i).mul(decay).sub(mi.mul(stepSize).div(denom));
      narrow(mi, m, i);
      narrow(vi, v, i);
      narrow(wi, w, i);
    }
    for (int i = bound; i < w.length; i++) {
      double mi = beta1 * m[i] + (1 - beta1) * g[i];
      double vi = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
      m[i] = (float) mi;
      v[i] = (float) vi;
      w[i] = (float) (w[i] * decay - stepSize * mi / (Math.sqrt(vi) / bias2Sqrt + eps));
    }
  }

  private static DoubleVector wide(float[] a, int i) {
    return (DoubleVector) FloatVector.fromArray(F, a, i).convertShape(VectorOperators.F2D, D, 0);
  }

  private static void narrow(DoubleVector x, float[] a, int i) {
    ((FloatVector) x.convertShape(VectorOperators.D2F, F, 0)).intoArray(a, i);
  }
}
