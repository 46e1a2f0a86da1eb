package org.meft.datasets.gsm8k;

import com.google.gson.JsonObject;
import java.math.BigDecimal;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import org.meft.datasets.Dataset;
import org.meft.datasets.Example;
import org.meft.datasets.FileType;
import org.meft.datasets.InvalidRecordException;
import org.meft.datasets.JsonFields;
import org.meft.datasets.PromptTemplate;
import org.meft.datasets.RejectReason;
import org.meft.datasets.StableHash;
import org.meft.datasets.metric.Gsm8kExactMatch;
import org.meft.datasets.metric.Metric;
import org.meft.datasets.metric.NumberAccuracy;

/**
 * GSM8K (Cobbe et al., 2021): grade-school maths word problems whose solution ends with {@code ####
 * N}, scored by lm-evaluation-harness's exact match ({@link Gsm8kExactMatch}: {@code strict-match},
 * the headline, and {@code flexible-extract}), beside the project's lenient accuracy.
 *
 * <p>Files: the official JSON Lines ({@code {"question": string, "answer": string}}) or the Hub's
 * Parquet export (the same two columns). The id is {@code gsm8k-} and 16 hex digits of SHA-256 of
 * the question. The target is the solution without its calculator annotations ({@code <<48/2=24>>},
 * markup for a calculator tool the model does not have), still ending with {@code #### N}; the
 * reference is N, commas removed. A solution without a number after {@code ####} is rejected.
 *
 * <p>Splits: {@code train.jsonl} / {@code train-*} train, {@code test.jsonl} / {@code test-*} test.
 */
public final class Gsm8k implements Dataset {
  static final PromptTemplate PROMPT =
      PromptTemplate.of(
          "Solve the problem step by step, then give the final answer after '####'.\n"
              + "Question: {question}\nAnswer:");
  private static final Pattern CALCULATOR = Pattern.compile("<<[^<>]*>>");
  private static final String FINAL_MARK = "####";

  private final Metric metric = new Gsm8kExactMatch();

  @Override
  public String name() {
    return "gsm8k";
  }

  @Override
  public List<String> folderNames() {
    return List.of("gsm8k", "grade_school_math");
  }

  @Override
  public Set<FileType> fileTypes() {
    return Set.of(FileType.JSONL, FileType.PARQUET);
  }

  @Override
  public Example parse(JsonObject unit, String fileName) throws InvalidRecordException {
    String question = JsonFields.string(unit, "question");
    String solution = JsonFields.string(unit, "answer");
    int mark = solution.lastIndexOf(FINAL_MARK);
    Optional<BigDecimal> number =
        mark < 0
            ? Optional.empty()
            : NumberAccuracy.firstNumber(solution.substring(mark + FINAL_MARK.length()));
    if (number.isEmpty()) {
      throw new InvalidRecordException(
          RejectReason.NO_FINAL_NUMBER, "field 'answer' has no number after '####'");
    }
    String finalAnswer = number.get().toPlainString();
    return new Example(
        "gsm8k-" + StableHash.hex16(question),
        PROMPT.render(Map.of("question", question.strip())),
        CALCULATOR.matcher(solution.strip()).replaceAll(""),
        List.of(finalAnswer),
        Map.of("final_answer", finalAnswer));
  }

  @Override
  public Metric metric() {
    return metric;
  }
}
