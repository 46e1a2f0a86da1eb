package org.meft.adapter.meft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.meft.adapter.LayerSelection;
import org.meft.settings.SettingValues;
import org.meft.store.RowRate;

/** meft's settings for the rows' rate and the keys' source, read as a user writes them. */
class MeftConfigTest {
  @Test
  void aMisspelledChoiceNamesTheSettingAndTheAllowedValues() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                MeftConfig.read(
                    new SettingValues(Map.of("row-lr-schedule", "cosine")), LayerSelection.ALL));
    assertEquals("row-lr-schedule: expected run|constant, got 'cosine'", e.getMessage());
    assertThrows(
        IllegalArgumentException.class,
        () -> new RowRate(0f, RowRate.Schedule.RUN, RowRate.Frequency.NONE));
  }

  @Test
  void theSettingsReadBackAsWritten() {
    MeftConfig config =
        MeftConfig.read(
            new SettingValues(
                Map.of(
                    "row-lr-scale", "4",
                    "row-lr-schedule", "constant",
                    "row-lr-frequency", "sqrt",
                    "key-source", "tokens")),
            LayerSelection.ALL);
    assertEquals(
        new RowRate(4f, RowRate.Schedule.CONSTANT, RowRate.Frequency.SQRT), config.rowRate());
    assertEquals(KeySource.TOKENS, config.keySource());
    assertEquals(config, MeftConfig.read(new SettingValues(config.settings()), LayerSelection.ALL));
  }
}
