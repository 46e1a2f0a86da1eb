package org.meft.datasets.metric;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * ToolBench IoU by the MEFT authors' {@code tool()} ({@code raw_evaluate_my.py}): the prediction
 * without {@code "API MAIN INFO: "}, split on blank lines, each piece and reference cut to three
 * comma fields and lower-cased, nothing trimmed. Expected values worked from that source; the
 * lenient column is the project's line parser.
 */
class ApiSetIouAuthorsTest {
  private final ApiSetIou metric = new ApiSetIou();
  private final List<String> gold = List.of("Weather :: Current", "Weather :: Forecast");

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        // prediction | authors' iou | lenient iou
        // the authors' format: one API per blank-line-separated paragraph
        "Weather :: Current\\n\\nWeather :: Forecast|1.0|1.0",
        "API MAIN INFO: Weather :: Current\\n\\nAPI MAIN INFO: weather :: forecast|1.0|0.0",
        // one per line is one piece for the authors
        "Weather :: Current\\nWeather :: Forecast|0.0|1.0",
        // bullets and spaces around :: are not forgiven
        "- Weather :: Current\\n\\n* Weather :: Forecast|0.0|1.0",
        "weather::current\\n\\nWeather :: Forecast|0.3333333333333333|1.0",
        // a header paragraph and a trailing blank line are pieces of their own
        "APIs:\\n\\nWeather :: Current\\n\\nWeather :: Forecast|0.6666666666666666|1.0",
        "Weather :: Current\\n\\n|0.3333333333333333|0.5",
        // CRLF blank lines do not split
        "Weather :: Current\\r\\n\\r\\nWeather :: Forecast|0.0|1.0",
        // three blank lines: the second piece starts with a newline
        "Weather :: Current\\n\\n\\nWeather :: Forecast|0.3333333333333333|1.0",
        // fields past the third comma do not count
        "Weather :: Current\\n\\nWeather :: Forecast, a, b, c|0.3333333333333333|0.3333333333333333",
        "''|0.0|0.0",
      })
  void scoresAsTheAuthors(String prediction, double authors, double lenient) {
    String text = prediction.replace("\\r", "\r").replace("\\n", "\n");
    double[] values = metric.score(text, gold);
    assertEquals(authors, values[0], 1e-15, prediction);
    assertEquals(lenient, values[1], 1e-15, prediction);
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {"a,b,c,d|a,b,c", "A, B|a, b", "x|x", "1,2,3,|1,2,3", ",,,|,,"})
  void keysKeepThreeCommaFields(String api, String key) {
    assertEquals(key, ApiSetIou.authorsKey(api));
  }
}
