package org.meft.datasets;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.List;
import java.util.Set;
import org.meft.datasets.metric.Metric;

/**
 * One dataset: how its raw files are laid out and split, how a raw record is validated and mapped
 * to the common schema ({@link Example}, then {@link Record}) with its prompt and target, and how a
 * prediction is scored. Implementations are stateless singletons listed in {@link Datasets}; the
 * preparation job and the evaluation use only this interface.
 *
 * <p>A raw record ("unit") is a JSON object: a line of a JSON Lines file, an element of a JSON
 * document's record array (after {@link #explode}), or a Parquet row read as the object of its
 * columns, so one {@link #parse} serves every file type.
 */
public interface Dataset {
  /** The name on the command line and in output paths: {@code nq}, {@code squad}, ... */
  String name();

  /** The folder names under which an input directory holds this dataset's files. */
  List<String> folderNames();

  /** The file types this dataset's readers take. */
  Set<FileType> fileTypes();

  /**
   * The role of one of this dataset's files, given the names of all of them (some rules depend on
   * which other files are present). Default: {@link SplitRole#fromFileName}.
   */
  default SplitRole splitRole(String fileName, List<String> allFileNames) {
    return SplitRole.fromFileName(fileName);
  }

  /**
   * For JSON documents: the field of the root object that holds the record array ({@code data} in
   * SQuAD), or the empty string when the root is itself the array (ToolBench).
   */
  default String documentArray() {
    return "";
  }

  /**
   * Expands one element of a JSON document's record array into units. Default: the element is one
   * unit and must be an object.
   */
  default void explode(JsonElement element, String position, UnitSink sink) {
    if (element.isJsonObject()) {
      sink.unit(element.getAsJsonObject(), position);
    } else {
      sink.reject(
          position,
          RejectReason.WRONG_TYPE,
          "record is " + JsonFields.describe(element) + ", expected an object",
          element.toString());
    }
  }

  /**
   * Validates one unit and maps it to an example; {@code fileName} is the source file's name (for
   * ids that are only unique within a file).
   */
  Example parse(JsonObject unit, String fileName) throws InvalidRecordException;

  /**
   * This dataset asked closed-book: the prompt without the passage that holds the answer, so that a
   * model must have stored the answer (prepare's {@code --closed-book}). Default: the dataset
   * itself (its prompt has no passage).
   */
  default Dataset closedBook() {
    return this;
  }

  /** The metric for this dataset's predictions. */
  Metric metric();

  /** {@link #parse} and assign the split: the common record of one unit. */
  default Record toRecord(JsonObject unit, String fileName, SplitRole role, double testFraction)
      throws InvalidRecordException {
    Example example = parse(unit, fileName);
    return Record.of(name(), role.assign(example.id(), testFraction), example);
  }

  /** Scores one prediction against a record's references, one value per metric name. */
  default double[] score(String prediction, List<String> references) {
    return metric().score(prediction, references);
  }
}
