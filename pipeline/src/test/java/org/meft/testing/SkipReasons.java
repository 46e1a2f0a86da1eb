package org.meft.testing;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.ClassSource;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;

/**
 * Prints why a test was skipped (a failed assumption, e.g. ../shared or node absent, or a disabled
 * test) on the build's console, one line each: surefire keeps the reasons only in its XML reports,
 * and it sends the tests' own output to files. Registered for every module's tests through
 * META-INF/services (the modules' surefire runs add this module's test classes to their class
 * path); it writes to the process's standard error, which surefire copies to the console.
 */
public final class SkipReasons implements TestExecutionListener {
  private final PrintStream console =
      new PrintStream(new FileOutputStream(FileDescriptor.err), true, StandardCharsets.UTF_8);

  @Override
  public void executionSkipped(TestIdentifier test, String reason) {
    console.println("SKIPPED " + name(test) + ": " + reason);
  }

  @Override
  public void executionFinished(TestIdentifier test, TestExecutionResult result) {
    if (result.getStatus() == TestExecutionResult.Status.ABORTED) {
      console.println(
          "SKIPPED "
              + name(test)
              + ": "
              + result.getThrowable().map(Throwable::getMessage).orElse("(no reason given)"));
    }
  }

  private static String name(TestIdentifier test) {
    return test.getSource()
        .map(
            source -> {
              if (source instanceof MethodSource method) {
                String simple =
                    method.getClassName().substring(method.getClassName().lastIndexOf('.') + 1);
                String display = test.getDisplayName();
                return simple
                    + "."
                    + method.getMethodName()
                    + (display.startsWith(method.getMethodName()) ? "" : " " + display);
              }
              if (source instanceof ClassSource type) {
                return type.getClassName().substring(type.getClassName().lastIndexOf('.') + 1);
              }
              return test.getDisplayName();
            })
        .orElse(test.getDisplayName());
  }
}
