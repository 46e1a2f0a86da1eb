package org.meft.datasets;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.ServiceLoader;

/**
 * The datasets, by name: the one registry that readers, jobs and reports look them up in. A dataset
 * is registered by one line naming its class in {@code
 * META-INF/services/org.meft.datasets.Dataset}, read through the class loader that loaded {@link
 * Dataset}.
 */
public final class Datasets {
  /** Every dataset, in the order of tables and output (the order of registration). */
  public static final List<Dataset> ALL = load();

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

  private static List<Dataset> load() {
    List<Dataset> all = new ArrayList<>();
    ServiceLoader.load(Dataset.class, Dataset.class.getClassLoader()).forEach(all::add);
    if (all.isEmpty()) {
      throw new IllegalStateException(
          "no dataset registered: META-INF/services/"
              + Dataset.class.getName()
              + " is missing from the class path");
    }
    return List.copyOf(all);
  }

  /** The position of {@code dataset} in {@link #ALL}, for stable ordering. */
  public static int order(String dataset) {
    return names().indexOf(dataset);
  }
}
