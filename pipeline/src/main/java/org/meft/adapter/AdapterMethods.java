package org.meft.adapter;

import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

/**
 * The registry of adapter methods: every {@link AdapterMethod} named in {@code
 * META-INF/services/org.meft.adapter.AdapterMethod}, in the order written there. Read through the
 * class loader that loaded this interface, so Spark executors find the same methods as the driver.
 */
public final class AdapterMethods {
  private static final List<AdapterMethod> ALL = load();

  private AdapterMethods() {}

  /** Every registered method, in registration order. */
  public static List<AdapterMethod> all() {
    return ALL;
  }

  /** Their names, in registration order. */
  public static List<String> names() {
    return ALL.stream().map(AdapterMethod::name).toList();
  }

  /**
   * The method called {@code name}.
   *
   * @throws IllegalArgumentException naming the known methods
   */
  public static AdapterMethod named(String name) {
    for (AdapterMethod method : ALL) {
      if (method.name().equals(name)) {
        return method;
      }
    }
    List<String> names = names();
    String choices =
        names.size() == 1
            ? names.get(0)
            : String.join(", ", names.subList(0, names.size() - 1))
                + " or "
                + names.get(names.size() - 1);
    throw new IllegalArgumentException("method: must be " + choices + ", got '" + name + "'");
  }

  private static List<AdapterMethod> load() {
    List<AdapterMethod> methods = new ArrayList<>();
    ServiceLoader.load(AdapterMethod.class, AdapterMethod.class.getClassLoader())
        .forEach(methods::add);
    if (methods.isEmpty()) {
      throw new IllegalStateException(
          "no adapter method registered: META-INF/services/"
              + AdapterMethod.class.getName()
              + " is missing from the class path");
    }
    return List.copyOf(methods);
  }
}
