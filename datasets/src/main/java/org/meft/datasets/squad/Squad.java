package org.meft.datasets.squad;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.meft.datasets.Dataset;
import org.meft.datasets.Example;
import org.meft.datasets.FileType;
import org.meft.datasets.InvalidRecordException;
import org.meft.datasets.JsonFields;
import org.meft.datasets.PromptTemplate;
import org.meft.datasets.RejectReason;
import org.meft.datasets.UnitSink;
import org.meft.datasets.metric.ExactMatchF1;
import org.meft.datasets.metric.Metric;

/**
 * SQuAD v1.1 (Rajpurkar et al., 2016): a question on a Wikipedia paragraph whose answer is a span
 * of it, scored by exact match and F1 (maximum over the answers).
 *
 * <p>Files: the official JSON ({@code {"data": [{"title", "paragraphs": [{"context", "qas": [{"id",
 * "question", "answers": [{"text", "answer_start"}]}]}]}], "version"}}), expanded into one unit per
 * question carrying its title and context; or the Hub's Parquet export, whose rows already are such
 * units with {@code answers} as {@code {"text": [...], "answer_start": [...]}}. Both shapes of
 * {@code answers} are read. Every answer text must occur in the context (offsets are not checked:
 * scoring uses only the text). The target is the first answer; every answer is a reference.
 *
 * <p>{@link #closedBook}: the same records with the question alone in the prompt (the context is
 * still read, to check that the answers are spans of it).
 *
 * <p>Splits: {@code train-v1.1.json} / {@code train-*} train; {@code dev-v1.1.json} / {@code
 * validation-*} is the evaluation set (the official test set is hidden).
 */
public final class Squad implements Dataset {
  static final PromptTemplate PROMPT =
      PromptTemplate.of(
          "Answer the question with a span of the passage.\n"
              + "Passage: {context}\nQuestion: {question}\nAnswer:");

  /** Closed-book: the question alone, as NQ-open asks it; the answer must come from memory. */
  static final PromptTemplate CLOSED_BOOK_PROMPT =
      PromptTemplate.of("Answer the question with a short answer.\nQuestion: {question}\nAnswer:");

  private final Metric metric = ExactMatchF1.squad();
  private final PromptTemplate prompt;

  /** The reading-comprehension task: the passage is in the prompt. */
  public Squad() {
    this(PROMPT);
  }

  private Squad(PromptTemplate prompt) {
    this.prompt = prompt;
  }

  @Override
  public Dataset closedBook() {
    return new Squad(CLOSED_BOOK_PROMPT);
  }

  @Override
  public String name() {
    return "squad";
  }

  @Override
  public List<String> folderNames() {
    return List.of("squad");
  }

  @Override
  public Set<FileType> fileTypes() {
    return Set.of(FileType.JSON, FileType.PARQUET);
  }

  @Override
  public String documentArray() {
    return "data";
  }

  /** One article into one unit per question, with the article's title and paragraph's context. */
  @Override
  public void explode(JsonElement article, String position, UnitSink sink) {
    try {
      if (!article.isJsonObject()) {
        throw JsonFields.wrongType("data[]", article, "an object");
      }
      JsonObject object = article.getAsJsonObject();
      String title = JsonFields.optionalString(object, "title", "");
      JsonArray paragraphs = JsonFields.array(object, "paragraphs");
      for (int p = 0; p < paragraphs.size(); p++) {
        explodeParagraph(title, paragraphs.get(p), position + ".paragraphs[" + p + "]", sink);
      }
    } catch (InvalidRecordException e) {
      sink.reject(position, e.reason(), e.getMessage(), article.toString());
    }
  }

  private static void explodeParagraph(
      String title, JsonElement paragraph, String position, UnitSink sink) {
    try {
      if (!paragraph.isJsonObject()) {
        throw JsonFields.wrongType("paragraphs[]", paragraph, "an object");
      }
      JsonObject object = paragraph.getAsJsonObject();
      JsonElement context = object.get("context");
      JsonArray qas = JsonFields.array(object, "qas");
      for (int q = 0; q < qas.size(); q++) {
        String at = position + ".qas[" + q + "]";
        if (!qas.get(q).isJsonObject()) {
          sink.reject(
              at,
              RejectReason.WRONG_TYPE,
              "field 'qas[]' is " + JsonFields.describe(qas.get(q)) + ", expected an object",
              qas.get(q).toString());
          continue;
        }
        JsonObject unit = qas.get(q).getAsJsonObject().deepCopy();
        unit.addProperty("title", title);
        if (context != null) {
          unit.add("context", context);
        }
        sink.unit(unit, at);
      }
    } catch (InvalidRecordException e) {
      sink.reject(position, e.reason(), e.getMessage(), paragraph.toString());
    }
  }

  @Override
  public Example parse(JsonObject unit, String fileName) throws InvalidRecordException {
    String id = JsonFields.key(unit, "id");
    String question = JsonFields.string(unit, "question");
    String context = JsonFields.string(unit, "context");
    List<String> answers = answerTexts(unit);
    for (String answer : answers) {
      if (!context.contains(answer)) {
        throw new InvalidRecordException(
            RejectReason.ANSWER_NOT_IN_CONTEXT, "answer '" + answer + "' not found in its context");
      }
    }
    return new Example(
        id,
        prompt == PROMPT
            ? PROMPT.render(Map.of("context", context.strip(), "question", question.strip()))
            : prompt.render(Map.of("question", question.strip())),
        answers.get(0).strip(),
        answers,
        Map.of("title", JsonFields.optionalString(unit, "title", "")));
  }

  /** The answer texts of either layout: a list of {text, answer_start}, or {text: [...]}. */
  private static List<String> answerTexts(JsonObject unit) throws InvalidRecordException {
    JsonElement answers = unit.get("answers");
    if (answers != null && answers.isJsonObject()) {
      return JsonFields.answers(
          JsonFields.array(answers.getAsJsonObject(), "text"), "answers.text");
    }
    JsonArray list = JsonFields.array(unit, "answers");
    JsonArray texts = new JsonArray();
    for (int i = 0; i < list.size(); i++) {
      if (!list.get(i).isJsonObject()) {
        throw JsonFields.wrongType("answers[" + i + "]", list.get(i), "an object");
      }
      JsonElement text = list.get(i).getAsJsonObject().get("text");
      if (text == null || text.isJsonNull()) {
        throw new InvalidRecordException(
            RejectReason.MISSING_FIELD, "missing field 'answers[" + i + "].text'");
      }
      texts.add(text);
    }
    return JsonFields.answers(texts, "answers[].text");
  }

  @Override
  public Metric metric() {
    return metric;
  }
}
