package org.meft.datasets;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.meft.datasets.gsm8k.Gsm8k;
import org.meft.datasets.nq.NaturalQuestions;
import org.meft.datasets.squad.Squad;
import org.meft.datasets.toolbench.ToolBench;

/** The datasets, by name: the one registry that readers, jobs and reports look them up in. */
public final class Datasets {
  /** Every dataset, in the order of tables and output. */
  public static final List<Dataset> ALL =
      List.of(new NaturalQuestions(), new Squad(), new Gsm8k(), new ToolBench());

  private Datasets() {}

  /**
   * The dataset with {@code name} or one of its folder names ({@code nq_open}), case-insensitive.
   *
   * @throws IllegalArgumentException naming the known datasets when there is none
   */
  public static Dataset byName(String name) {
    String wanted = name.strip().toLowerCase(Locale.ROOT);
    for (Dataset dataset : ALL) {
      if (dataset.name().equals(wanted) || dataset.folderNames().contains(wanted)) {
        return dataset;
      }
    }
    throw new IllegalArgumentException(
        "unknown dataset '" + name + "': expected one of " + String.join(", ", names()));
  }

  /** The names of all datasets. */
  public static List<String> names() {
    List<String> names = new ArrayList<>();
    ALL.forEach(dataset -> names.add(dataset.name()));
    return names;
  }

  /** The position of {@code dataset} in {@link #ALL}, for stable ordering. */
  public static int order(String dataset) {
    return names().indexOf(dataset);
  }
}
