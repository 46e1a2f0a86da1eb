package org.meft.datasets.nq;

import com.google.gson.JsonObject;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.meft.datasets.Dataset;
import org.meft.datasets.Example;
import org.meft.datasets.FileType;
import org.meft.datasets.InvalidRecordException;
import org.meft.datasets.JsonFields;
import org.meft.datasets.PromptTemplate;
import org.meft.datasets.SplitRole;
import org.meft.datasets.StableHash;
import org.meft.datasets.metric.ExactMatchF1;
import org.meft.datasets.metric.Metric;

/**
 * NQ-open (Lee et al., 2019): open-domain questions with short answers, scored by the official
 * NQ-open exact match (NFD, then the SQuAD normalisation) and SQuAD's F1, maximum over the answers
 * ({@link ExactMatchF1#nqOpen}).
 *
 * <p>Files: the official JSON Lines ({@code NQ-open.*.jsonl}, one {@code {"question": string,
 * "answer": [string, ...]}} per line; the EfficientQA test file's extra judgement fields are
 * ignored) or the Hub's Parquet export ({@code question}, {@code answer} list). The id is {@code
 * nq-} and 16 hex digits of SHA-256 of the question. The target is the first answer; every answer
 * is a reference.
 *
 * <p>Splits: the EfficientQA files and a train file ({@code NQ-open.train.jsonl}, the Hub's {@code
 * train-*.parquet}) train. The original dev set ({@code NQ-open.dev.jsonl}, the Hub's {@code
 * validation-*}) is the evaluation set: all test when a train file is among the inputs, otherwise
 * split by hash (test fraction to test, the rest to train), because without the 88K-question train
 * file the EfficientQA files alone are a thin training set.
 */
public final class NaturalQuestions implements Dataset {
  static final PromptTemplate PROMPT =
      PromptTemplate.of("Answer the question with a short answer.\nQuestion: {question}\nAnswer:");

  private final Metric metric = ExactMatchF1.nqOpen();

  @Override
  public String name() {
    return "nq";
  }

  @Override
  public List<String> folderNames() {
    return List.of("nq_open", "nq-open", "natural_questions");
  }

  @Override
  public Set<FileType> fileTypes() {
    return Set.of(FileType.JSONL, FileType.PARQUET);
  }

  @Override
  public SplitRole splitRole(String fileName, List<String> allFileNames) {
    if (isEfficientQa(fileName)) {
      return SplitRole.TRAIN;
    }
    SplitRole role = SplitRole.fromFileName(fileName);
    if (role != SplitRole.TEST) {
      return role;
    }
    boolean hasTrainFile =
        allFileNames.stream()
            .anyMatch(
                name -> !isEfficientQa(name) && SplitRole.fromFileName(name) == SplitRole.TRAIN);
    return hasTrainFile ? SplitRole.TEST : SplitRole.HASHED;
  }

  @Override
  public Example parse(JsonObject unit, String fileName) throws InvalidRecordException {
    String question = JsonFields.string(unit, "question");
    List<String> answers = JsonFields.answers(unit, "answer");
    return new Example(
        "nq-" + StableHash.hex16(question),
        PROMPT.render(Map.of("question", question.strip())),
        answers.get(0).strip(),
        answers,
        Map.of());
  }

  @Override
  public Metric metric() {
    return metric;
  }

  private static boolean isEfficientQa(String fileName) {
    return fileName.toLowerCase(Locale.ROOT).contains("efficientqa");
  }
}
