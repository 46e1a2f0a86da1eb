package org.meft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.meft.reversible.Architecture;
import org.meft.reversible.ReversibleConfig;

/**
 * {@code --reversible} and its rev- settings: the authors' per-architecture defaults, explicit
 * values, round trips through a manifest's settings, and one-line refusals naming the flag.
 */
class ReversibleSettingsTest {
  private static Map<String, String> settings(String method, String... extra) {
    Map<String, String> s = new HashMap<>();
    s.put("model", "models/tiny");
    s.put("data", "pairs.jsonl");
    s.put("method", method);
    s.put("steps", "10");
    s.put("batch-size", "4");
    s.put("lr", "3e-4");
    for (int i = 0; i < extra.length; i += 2) {
      s.put(extra[i], extra[i + 1]);
    }
    return s;
  }

  @Test
  void defaultsFollowTheArchitecture() {
    float[][] expected = {{0.1f, 1f}, {1f, 0.1f}, {0.1f, 0.1f}}; // bert_glue.sh
    for (Architecture a : Architecture.values()) {
      RunSpec spec = RunSpec.fromSettings(settings("meft", "reversible", a.flagName()));
      ReversibleConfig r = spec.train().reversible();
      assertEquals(a, r.architecture());
      assertEquals(expected[a.ordinal()][0], r.lambda(), a + " lambda");
      assertEquals(expected[a.ordinal()][1], r.beta(), a + " beta");
      assertEquals(12, r.depth(12), "all layers by default");
      assertEquals(spec, RunSpec.fromSettings(spec.toSettings()), a + " round trip");
    }
    assertFalse(RunSpec.fromSettings(settings("lora")).train().reversible().enabled());
  }

  @Test
  void explicitValuesAndLayers() {
    RunSpec spec =
        RunSpec.fromSettings(
            settings(
                "parallel",
                "reversible",
                "meft2",
                "rev-layers",
                "3",
                "rev-lambda",
                "0.5",
                "rev-beta",
                "0.25",
                "rev-adapter-size",
                "32"));
    ReversibleConfig r = spec.train().reversible();
    assertEquals(new ReversibleConfig(Architecture.MEFT2, 3, 0.5f, 0.25f, 32), r);
    assertEquals(3, r.depth(8));
    assertEquals(spec, RunSpec.fromSettings(spec.toSettings()));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> r.depth(2));
    assertTrue(e.getMessage().startsWith("rev-layers"), e.getMessage());
  }

  @Test
  void badSettingsAreRefusedNamingTheFlag() {
    assertRefused("reversible", settings("meft", "reversible", "meft4"));
    assertRefused("rev-lambda", settings("meft", "rev-lambda", "0.5"));
    assertRefused("rev-lambda", settings("meft", "reversible", "meft1", "rev-lambda", "0"));
    assertRefused("rev-beta", settings("meft", "reversible", "meft1", "rev-beta", "-1"));
    assertRefused("rev-layers", settings("meft", "reversible", "meft3", "rev-layers", "0"));
    assertRefused(
        "rev-adapter-size", settings("meft", "reversible", "meft3", "rev-adapter-size", "128"));
    assertRefused(
        "--reversible", settings("meft", "reversible", "meft1", "recompute-activations", "true"));
    assertRefused("--reversible", settings("full", "reversible", "meft1"));
  }

  private static void assertRefused(String named, Map<String, String> settings) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> RunSpec.fromSettings(settings));
    assertTrue(e.getMessage().contains(named), e.getMessage());
    assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
  }
}
