package org.meft.datasets.metric;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** ToolBench's lenient IoU (the project's line parser) against hand-computed set arithmetic. */
class ApiSetIouTest {
  private final ApiSetIou metric = new ApiSetIou();
  private final List<String> gold =
      List.of("Weather :: Current", "Weather :: Forecast", "Maps :: Route", "Maps :: Geocode");

  @Test
  void partialOverlapIsIntersectionOverUnion() {
    // P = {current, forecast, translate}, G = 4 APIs: |P ∩ G| = 2, |P ∪ G| = 5.
    String prediction = "Weather :: Current\nWeather :: Forecast\nTranslator :: Translate";
    assertEquals(2.0 / 5.0, metric.score(prediction, gold)[1], 1e-15);
  }

  @Test
  void namesCompareCaseInsensitivelyAfterTrimming() {
    String prediction =
        "  weather::current \n- MAPS ::  route\n* maps :: GEOCODE\nWEATHER :: Forecast";
    assertEquals(1.0, metric.score(prediction, gold)[1]);
  }

  @Test
  void repeatedAndUnparsableLinesDoNotCount() {
    // Duplicates collapse to one API; lines without "::" are ignored: P = {current}, IoU = 1/4.
    String prediction = "I would call:\nWeather :: Current\nweather :: current\nForecast";
    assertEquals(0.25, metric.score(prediction, gold)[1], 1e-15);
  }

  @Test
  void anEmptyPredictionScoresZero() {
    assertEquals(0.0, metric.score("", gold)[1]);
    assertEquals(0.0, metric.score("no apis", gold)[1]);
  }

  @Test
  void formattedLinesParseBack() {
    String line = ApiSetIou.line(" Olato Quotes ", "Love Quote ");
    assertEquals("Olato Quotes :: Love Quote", line);
    assertEquals(Set.of("olato quotes\nlove quote"), ApiSetIou.parse(line));
  }
}
