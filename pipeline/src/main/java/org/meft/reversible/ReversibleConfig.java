package org.meft.reversible;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.meft.settings.Range;
import org.meft.settings.Setting;
import org.meft.settings.SettingValues;

/**
 * Whether, and how, the lowest decoder layers are made reversible (Liao et al., NeurIPS 2023).
 *
 * @param architecture MEFT1, MEFT2 or MEFT3; null: no reversible layers
 * @param layers the lowest this many decoder layers are reversible; 0: all of them
 * @param lambda the scale of x1 in y1 = lambda x1 + F(x2)
 * @param beta the scale of x2 in y2 = beta x2 + G(y1)
 * @param adapterSize neurons of the block adapter (MEFT1's G, MEFT2's F)
 */
public record ReversibleConfig(
    Architecture architecture, int layers, float lambda, float beta, int adapterSize) {

  public static final Setting REVERSIBLE =
      Setting.text(
          "reversible",
          "none",
          "none, meft1, meft2 or meft3: reversible lowest layers (Liao et al. 2023), their inputs"
              + " rebuilt from their outputs in backward");
  public static final Setting REV_LAYERS =
      Setting.derived(
          "rev-layers",
          Setting.Kind.INTEGER,
          "all layers",
          Range.atLeast(1),
          "with --reversible: the lowest N decoder layers are reversible");
  public static final Setting REV_LAMBDA =
      Setting.derived(
          "rev-lambda",
          Setting.Kind.NUMBER,
          "meft1 0.1, meft2 1, meft3 0.1",
          Range.above(0),
          "with --reversible: lambda in y1 = lambda x1 + F(x2)");
  public static final Setting REV_BETA =
      Setting.derived(
          "rev-beta",
          Setting.Kind.NUMBER,
          "meft1 1, meft2 0.1, meft3 0.1",
          Range.above(0),
          "with --reversible: beta in y2 = beta x2 + G(y1)");
  public static final Setting REV_ADAPTER_SIZE =
      Setting.integer(
          "rev-adapter-size",
          64,
          Range.atLeast(1),
          "with --reversible meft1|meft2: neurons of the block adapter G (meft1) or F (meft2)");

  /** Every reversible setting, in the order they are written. */
  public static final List<Setting> SETTINGS =
      List.of(REVERSIBLE, REV_LAYERS, REV_LAMBDA, REV_BETA, REV_ADAPTER_SIZE);

  /** No reversible layers. */
  public static final ReversibleConfig NONE =
      new ReversibleConfig(null, 0, 1f, 1f, defaultAdapterSize());

  public ReversibleConfig {
    if (layers != 0) {
      REV_LAYERS.check(layers);
    }
    REV_LAMBDA.check(lambda);
    REV_BETA.check(beta);
    REV_ADAPTER_SIZE.check(adapterSize);
  }

  private static int defaultAdapterSize() {
    return Integer.parseInt(REV_ADAPTER_SIZE.defaultValue());
  }

  /** {@code architecture} with its default lambda and beta, on all layers. */
  public static ReversibleConfig of(Architecture architecture) {
    return new ReversibleConfig(
        architecture,
        0,
        architecture.defaultLambda(),
        architecture.defaultBeta(),
        defaultAdapterSize());
  }

  /**
   * Reads {@link #SETTINGS}; lambda and beta default to the architecture's. The other rev- settings
   * are refused without {@code --reversible}.
   */
  public static ReversibleConfig read(SettingValues values) {
    String name = values.text(REVERSIBLE);
    if (name.equals("none")) {
      for (Setting s : List.of(REV_LAYERS, REV_LAMBDA, REV_BETA, REV_ADAPTER_SIZE)) {
        if (values.has(s)) {
          throw new IllegalArgumentException(
              s.name() + ": applies only with --reversible meft1|meft2|meft3");
        }
      }
      return NONE;
    }
    Architecture architecture = Architecture.named(name);
    // Settings written for meft3 hold the default size (settings() writes it for every
    // architecture): only another value was asked of meft3 and would be ignored.
    if (!architecture.hasBlockAdapter()
        && values.has(REV_ADAPTER_SIZE)
        && values.integer(REV_ADAPTER_SIZE) != defaultAdapterSize()) {
      throw new IllegalArgumentException(
          REV_ADAPTER_SIZE.name()
              + ": applies only with --reversible meft1|meft2 ("
              + architecture.flagName()
              + " has no block adapter)");
    }
    return new ReversibleConfig(
        architecture,
        values.has(REV_LAYERS) ? (int) REV_LAYERS.check(values.integer(REV_LAYERS)) : 0,
        values.has(REV_LAMBDA) ? values.number(REV_LAMBDA) : architecture.defaultLambda(),
        values.has(REV_BETA) ? values.number(REV_BETA) : architecture.defaultBeta(),
        values.integer(REV_ADAPTER_SIZE));
  }

  /** True when some layers are reversible. */
  public boolean enabled() {
    return architecture != null;
  }

  /** How many layers are reversible in a model of {@code modelLayers}. */
  public int depth(int modelLayers) {
    if (!enabled()) {
      return 0;
    }
    if (layers > modelLayers) {
      throw new IllegalArgumentException(
          REV_LAYERS.name()
              + " must be at most the model's "
              + modelLayers
              + " layers, got "
              + layers);
    }
    return layers == 0 ? modelLayers : layers;
  }

  /** {@link #SETTINGS} as {@link #read} reads them back (only reversible when enabled). */
  public Map<String, String> settings() {
    Map<String, String> s = new LinkedHashMap<>();
    s.put(REVERSIBLE.name(), enabled() ? architecture.flagName() : "none");
    if (enabled()) {
      if (layers > 0) {
        s.put(REV_LAYERS.name(), Integer.toString(layers));
      }
      s.put(REV_LAMBDA.name(), Float.toString(lambda));
      s.put(REV_BETA.name(), Float.toString(beta));
      s.put(REV_ADAPTER_SIZE.name(), Integer.toString(adapterSize));
    }
    return s;
  }
}
