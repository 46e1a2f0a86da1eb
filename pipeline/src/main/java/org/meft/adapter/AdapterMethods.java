package org.meft.adapter;

import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

/**
 * The registry of adapter methods: every {@link AdapterMethod} named in {@code
 * META-INF/services/org.meft.adapter.AdapterMethod}, in the order written there, and their
 * compositions {@code A+B} ({@link ComposedMethod}). Read through the class loader that loaded this
 * interface, so Spark executors find the same methods as the driver.
 */
public final class AdapterMethods {
  private static final List<AdapterMethod> ALL = load();
  private static final List<AdapterMethod> COMPOSITIONS = compose(ALL);

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
   * Every composition of two registered methods that compose, {@code A+B} and {@code B+A} both, in
   * registration order of A, then of B.
   */
  public static List<AdapterMethod> compositions() {
    return COMPOSITIONS;
  }

  /** {@link #all()}, then {@link #compositions()}: every method a run may name. */
  public static List<AdapterMethod> withCompositions() {
    List<AdapterMethod> every = new ArrayList<>(ALL);
    every.addAll(COMPOSITIONS);
    return every;
  }

  /**
   * The method called {@code name}: a registered one, or two joined by {@link ComposedMethod#JOIN}.
   *
   * @throws IllegalArgumentException naming the known methods, or why two do not compose
   */
  public static AdapterMethod named(String name) {
    int join = name.indexOf(ComposedMethod.JOIN);
    if (join >= 0) {
      if (name.indexOf(ComposedMethod.JOIN, join + 1) >= 0) {
        throw new IllegalArgumentException(
            "method: at most two methods compose (A"
                + ComposedMethod.JOIN
                + "B), got '"
                + name
                + "'");
      }
      return new ComposedMethod(named(name.substring(0, join)), named(name.substring(join + 1)));
    }
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
    throw new IllegalArgumentException(
        "method: must be "
            + choices
            + ", or two of them joined by "
            + ComposedMethod.JOIN
            + ", got '"
            + name
            + "'");
  }

  private static List<AdapterMethod> compose(List<AdapterMethod> methods) {
    List<AdapterMethod> compositions = new ArrayList<>();
    for (AdapterMethod first : methods) {
      for (AdapterMethod second : methods) {
        if (first != second && first.composable() && second.composable()) {
          compositions.add(new ComposedMethod(first, second));
        }
      }
    }
    return List.copyOf(compositions);
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
