package org.meft.adapter.meft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.meft.adapter.LayerSelection;
import org.meft.settings.SettingValues;
import org.meft.store.StoreRate;

/** meft's settings for the rows' rate and the keys' source, read as a user writes them. */
class MeftConfigTest {
  @Test
  void aMisspelledChoiceNamesTheSettingAndTheAllowedValues() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                MeftConfig.read(
                    new SettingValues(Map.of("value-lr-schedule", "cosine")), LayerSelection.ALL));
    assertEquals("value-lr-schedule: expected run|constant, got 'cosine'", e.getMessage());
    assertThrows(
        IllegalArgumentException.class,
        () -> new StoreRate(1f, 0f, StoreRate.Schedule.RUN, StoreRate.Frequency.NONE));
  }

  @Test
  void theSettingsReadBackAsWritten() {
    MeftConfig config =
        MeftConfig.read(
            new SettingValues(
                Map.of(
                    "key-lr-scale", "0.1",
                    "value-lr-scale", "4",
                    "value-lr-schedule", "constant",
                    "value-lr-frequency", "sqrt",
                    "key-source", "tokens")),
            LayerSelection.ALL);
    assertEquals(
        new StoreRate(0.1f, 4f, StoreRate.Schedule.CONSTANT, StoreRate.Frequency.SQRT),
        config.storeRate());
    assertEquals(KeySource.TOKENS, config.keySource());
    assertEquals(config, MeftConfig.read(new SettingValues(config.settings()), LayerSelection.ALL));
  }
}
