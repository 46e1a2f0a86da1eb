package org.meft.jobs;

import java.util.List;
import org.meft.settings.Range;
import org.meft.settings.Setting;

/**
 * The command-line reference ({@code docs/reference/cli.md}), generated from the commands' flag
 * declarations: {@code bin/meft help --markdown} prints it, and a test keeps the committed page
 * equal to it.
 */
public final class CliReference {
  private CliReference() {}

  /** The reference page for {@code commands}, in Markdown. */
  public static String markdown(List<Command> commands) {
    StringBuilder page = new StringBuilder();
    page.append("# Command-line reference\n\n");
    page.append(
        "Generated from the flag declarations by `bin/meft help --markdown`; do not edit.\n");
    page.append("`bin/meft COMMAND --help` prints the same for one command.\n\n");
    for (Command command : commands) {
      page.append("- [`").append(command.name()).append("`](#").append(command.name());
      page.append("): ").append(command.summary()).append('\n');
    }
    for (Command command : commands) {
      page.append("\n## ").append(command.name()).append("\n\n");
      page.append(command.summary()).append(".\n\n");
      page.append("| flag | default | what it sets |\n| --- | --- | --- |\n");
      for (Setting s : command.flags()) {
        page.append("| `--").append(s.name()).append("` | ").append(cell(defaultOf(s)));
        page.append(" | ").append(cell(help(s))).append(" |\n");
      }
    }
    return page.toString();
  }

  private static String defaultOf(Setting s) {
    if (s.kind() == Setting.Kind.BOOLEAN) {
      return "off";
    }
    if (s.defaultValue() != null) {
      return "`" + s.defaultValue() + "`";
    }
    return s.defaultRule() != null ? s.defaultRule() : "required";
  }

  private static String help(Setting s) {
    return s.range().equals(Range.ANY) ? s.help() : s.help() + "; " + s.range();
  }

  private static String cell(String text) {
    return text.replace("|", "\\|").replace("\n", " ");
  }
}
