package org.meft.datasets.toolbench;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.LinkedHashSet;
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
import org.meft.datasets.RejectReason;
import org.meft.datasets.SplitRole;
import org.meft.datasets.metric.ApiSetIou;
import org.meft.datasets.metric.Metric;

/**
 * ToolBench API selection (Qin et al., 2023): given a query and its candidate APIs, name the
 * relevant ones; scored by the intersection over union of the API sets ({@link ApiSetIou}).
 *
 * <p>Files: JSON arrays of {@code {"query", "query_id", "api_list": [{"category_name", "tool_name",
 * "api_name", "api_description", ...}], "relevant APIs": [[tool_name, api_name], ...]}}
 * (StableToolBench's {@code solvable_queries}, ToolBench's {@code G1_query.json}). Every relevant
 * API must be a candidate. The id is {@code toolbench-<file name without .json>-<query_id>} (query
 * ids are unique within a file). The prompt lists the candidates as {@code tool :: api
 * (description)}, descriptions cut to {@value #DESCRIPTION_CHARS} characters; the target is the
 * relevant APIs, one {@link ApiSetIou#line} each, in the file's order, separated by a blank line
 * ({@link #API_SEPARATOR}), the format the MEFT authors' {@code tool()} reads (it splits an answer
 * on {@code "\n\n"}; one API per line would be read as one API); the APIs are also the references.
 * No {@code "API MAIN INFO: "} prefix: the authors' rule deletes it from predictions anyway, and it
 * would break the {@code tool :: api} line that {@code iou_lenient} reads.
 *
 * <p>Splits: the files have none; every record is split by hash.
 */
public final class ToolBench implements Dataset {
  static final PromptTemplate PROMPT =
      PromptTemplate.of(
          "Pick the APIs the query needs from the candidates. Answer with each API as"
              + " tool_name :: api_name, separated by a blank line.\nCandidates:\n{candidates}"
              + "\nQuery: {query}\nAPIs:");
  static final int DESCRIPTION_CHARS = 120;

  /**
   * Between two APIs of a target: a blank line, as the MEFT authors' {@code tool()} splits an
   * answer ({@code output.split("\\n\\n")}), so a target scores {@code iou} 1 against its own
   * references.
   */
  public static final String API_SEPARATOR = "\n\n";

  private static final String RELEVANT = "relevant APIs";

  private final Metric metric = new ApiSetIou();

  @Override
  public String name() {
    return "toolbench";
  }

  @Override
  public List<String> folderNames() {
    return List.of("toolbench", "stabletoolbench");
  }

  @Override
  public Set<FileType> fileTypes() {
    return Set.of(FileType.JSON);
  }

  @Override
  public SplitRole splitRole(String fileName, List<String> allFileNames) {
    return SplitRole.HASHED;
  }

  @Override
  public Example parse(JsonObject unit, String fileName) throws InvalidRecordException {
    String query = JsonFields.string(unit, "query");
    String queryId = JsonFields.key(unit, "query_id");
    JsonArray candidates = JsonFields.array(unit, "api_list");
    if (candidates.isEmpty()) {
      throw new InvalidRecordException(RejectReason.EMPTY_VALUE, "field 'api_list' is empty");
    }
    StringBuilder listing = new StringBuilder();
    Set<String> known = new LinkedHashSet<>();
    for (int i = 0; i < candidates.size(); i++) {
      String field = "api_list[" + i + "]";
      if (!candidates.get(i).isJsonObject()) {
        throw JsonFields.wrongType(field, candidates.get(i), "an object");
      }
      JsonObject api = candidates.get(i).getAsJsonObject();
      String line =
          ApiSetIou.line(JsonFields.string(api, "tool_name"), JsonFields.string(api, "api_name"));
      known.add(line.toLowerCase(Locale.ROOT));
      String description = JsonFields.optionalString(api, "api_description", "");
      listing.append(listing.isEmpty() ? "" : "\n").append("- ").append(line);
      String shortened = shorten(description);
      if (!shortened.isEmpty()) {
        listing.append(" (").append(shortened).append(')');
      }
    }
    List<String> relevant = relevant(JsonFields.array(unit, RELEVANT), known);
    String base = fileName.replaceFirst("(?i)\\.json$", "");
    return new Example(
        "toolbench-" + base + "-" + queryId,
        PROMPT.render(Map.of("candidates", listing.toString(), "query", query.strip())),
        String.join(API_SEPARATOR, relevant),
        relevant,
        Map.of("query_id", queryId, "group", base, "candidates", String.valueOf(known.size())));
  }

  private static List<String> relevant(JsonArray pairs, Set<String> known)
      throws InvalidRecordException {
    if (pairs.isEmpty()) {
      throw new InvalidRecordException(
          RejectReason.EMPTY_ANSWERS, "empty answer list in field '" + RELEVANT + "'");
    }
    Set<String> lines = new LinkedHashSet<>();
    for (int i = 0; i < pairs.size(); i++) {
      String field = RELEVANT + "[" + i + "]";
      JsonElement pair = pairs.get(i);
      if (!pair.isJsonArray() || pair.getAsJsonArray().size() != 2) {
        throw JsonFields.wrongType(field, pair, "a [tool_name, api_name] pair");
      }
      String line =
          ApiSetIou.line(
              JsonFields.stringValue(pair.getAsJsonArray().get(0), field + "[0]"),
              JsonFields.stringValue(pair.getAsJsonArray().get(1), field + "[1]"));
      if (!known.contains(line.toLowerCase(Locale.ROOT))) {
        throw new InvalidRecordException(
            RejectReason.UNKNOWN_API, "relevant API '" + line + "' is not among the candidates");
      }
      lines.add(line);
    }
    return new ArrayList<>(lines);
  }

  private static String shorten(String description) {
    String flat = description.strip().replaceAll("\\s+", " ");
    return flat.length() <= DESCRIPTION_CHARS
        ? flat
        : flat.substring(0, DESCRIPTION_CHARS - 3).strip() + "...";
  }

  @Override
  public Metric metric() {
    return metric;
  }
}
