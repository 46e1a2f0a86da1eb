package org.meft.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Every {@code bin/meft} command line shown in a shell code block of README.md and docs/ (and each
 * spark-submit line's command after its jar) is accepted by the launcher's flag parser, every
 * relative link of those pages resolves, and the committed CLI reference equals the one generated
 * from the declarations.
 */
class DocsCommandLinesTest {
  private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
  private static final Path CLI_REFERENCE = ROOT.resolve("docs/reference/cli.md");
  private static final Set<String> SHELL_BLOCKS = Set.of("bash", "sh", "shell", "console");
  private static final Set<String> SEPARATORS = Set.of("&&", "||", ";", "|", "&");
  private static final Map<String, Command> COMMANDS =
      Main.commands().stream().collect(Collectors.toMap(Command::name, Function.identity()));

  /** One command line of a page, where it starts. */
  record Line(Path file, int number, List<String> words) {
    @Override
    public String toString() {
      return ROOT.relativize(file) + ":" + number + ": " + String.join(" ", words);
    }
  }

  @Test
  void everyShownCommandLineParses() throws IOException {
    List<Line> lines = new ArrayList<>();
    for (Path page : pages()) {
      lines.addAll(commandLines(page));
    }
    assertTrue(lines.size() >= 10, "too few command lines found: " + lines);
    List<String> refused = new ArrayList<>();
    for (Line line : lines) {
      String problem = check(line.words());
      if (problem != null) {
        refused.add(line + "\n    -> " + problem);
      }
    }
    assertTrue(
        refused.isEmpty(), "command lines the launcher refuses:\n" + String.join("\n", refused));
  }

  @Test
  void cliReferenceEqualsTheDeclarations() throws IOException {
    String generated = CliReference.markdown(Main.commands());
    String committed =
        Files.exists(CLI_REFERENCE) ? Files.readString(CLI_REFERENCE, StandardCharsets.UTF_8) : "";
    assertEquals(
        generated,
        committed,
        "docs/reference/cli.md is not the generated reference: run"
            + " `bin/meft help --markdown > docs/reference/cli.md`");
  }

  @Test
  void everyRelativeLinkResolves() throws IOException {
    List<String> broken = new ArrayList<>();
    java.util.regex.Pattern link = java.util.regex.Pattern.compile("\\]\\(([^)\\s]+)\\)");
    for (Path page : pages()) {
      java.util.regex.Matcher m = link.matcher(Files.readString(page, StandardCharsets.UTF_8));
      while (m.find()) {
        String target = m.group(1);
        if (target.matches("[a-z]+:.*")) {
          continue;
        }
        int hash = target.indexOf('#');
        String file = hash < 0 ? target : target.substring(0, hash);
        Path resolved = file.isEmpty() ? page : page.getParent().resolve(file).normalize();
        if (!Files.exists(resolved)) {
          broken.add(ROOT.relativize(page) + ": " + target + " (no such file)");
        } else if (hash >= 0 && !anchors(resolved).contains(target.substring(hash + 1))) {
          broken.add(ROOT.relativize(page) + ": " + target + " (no such heading)");
        }
      }
    }
    assertTrue(broken.isEmpty(), "broken links:\n" + String.join("\n", broken));
  }

  /** The anchors GitHub gives a page's headings: lower case, punctuation dropped, dashes. */
  private static Set<String> anchors(Path page) throws IOException {
    Set<String> anchors = new java.util.HashSet<>();
    boolean inBlock = false;
    for (String line : Files.readAllLines(page, StandardCharsets.UTF_8)) {
      if (line.startsWith("```")) {
        inBlock = !inBlock;
      } else if (!inBlock && line.matches("#+ .*")) {
        String heading = line.replaceFirst("#+ ", "").strip().toLowerCase(java.util.Locale.ROOT);
        anchors.add(heading.replaceAll("[^\\p{L}\\p{N}_\\- ]", "").replace(' ', '-'));
      }
    }
    return anchors;
  }

  @Test
  void aRefusedLineIsCaught() {
    assertEquals(
        "unknown flag --no-such-flag for 'report'",
        check(List.of("report", "--runs", "r", "--no-such-flag", "x")));
    assertEquals("unknown command 'trian'", check(List.of("trian", "--steps", "1")));
    assertEquals(null, check(List.of("train", "--help")));
  }

  /** Null when the launcher's parser takes {@code words} (a command and its flags). */
  private static String check(List<String> words) {
    if (words.isEmpty()) {
      return "no command";
    }
    if (words.get(0).equals("help") || words.get(0).equals("--help")) {
      return null;
    }
    Command command = COMMANDS.get(words.get(0));
    if (command == null) {
      return "unknown command '" + words.get(0) + "'";
    }
    List<String> args = words.subList(1, words.size());
    if (args.contains("--help")) {
      return null;
    }
    try {
      Flags.parse(command, args);
      return null;
    } catch (UsageException e) {
      return e.getMessage();
    }
  }

  private static List<Path> pages() throws IOException {
    List<Path> pages = new ArrayList<>(List.of(ROOT.resolve("README.md")));
    Path docs = ROOT.resolve("docs");
    if (Files.isDirectory(docs)) {
      try (Stream<Path> files = Files.walk(docs)) {
        files.filter(f -> f.toString().endsWith(".md")).sorted().forEach(pages::add);
      }
    }
    return pages;
  }

  /** The bin/meft lines of a page's fenced code blocks, continuation lines joined. */
  static List<Line> commandLines(Path page) {
    List<String> text;
    try {
      text = Files.readAllLines(page, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<Line> lines = new ArrayList<>();
    boolean inBlock = false;
    boolean shell = false;
    for (int i = 0; i < text.size(); i++) {
      String raw = text.get(i);
      if (raw.strip().startsWith("```")) {
        inBlock = !inBlock;
        shell = inBlock && SHELL_BLOCKS.contains(raw.strip().substring(3));
        continue;
      }
      if (!shell) {
        continue;
      }
      raw = raw.startsWith("$ ") ? raw.substring(2) : raw;
      int start = i + 1;
      StringBuilder logical = new StringBuilder(raw);
      while (logical.toString().endsWith("\\") && i + 1 < text.size()) {
        logical.setLength(logical.length() - 1);
        logical.append(' ').append(text.get(++i));
      }
      for (List<String> segment : segments(words(logical.toString()))) {
        List<String> command = launcherWords(segment);
        if (command != null) {
          lines.add(new Line(page, start, command));
        }
      }
    }
    return lines;
  }

  /** The words after {@code bin/meft}, or after a spark-submit line's jar; null for other lines. */
  private static List<String> launcherWords(List<String> segment) {
    int at = 0;
    while (at < segment.size() && segment.get(at).matches("[A-Za-z_][A-Za-z0-9_]*=.*")) {
      at++;
    }
    if (at >= segment.size()) {
      return null;
    }
    List<String> rest;
    if (segment.get(at).equals("bin/meft")) {
      rest = segment.subList(at + 1, segment.size());
    } else if (segment.get(at).equals("spark-submit")) {
      int jar = at + 1;
      while (jar < segment.size()
          && !segment.get(jar).equals("$JAR")
          && !segment.get(jar).endsWith(".jar")) {
        jar++;
      }
      if (jar >= segment.size()) {
        return null;
      }
      rest = segment.subList(jar + 1, segment.size());
    } else {
      return null;
    }
    // A bare $VARIABLE where a flag would be stands for flags the page sets elsewhere.
    List<String> words = new ArrayList<>();
    for (int i = 0; i < rest.size(); i++) {
      String word = rest.get(i);
      boolean flagPosition = i == 0 || !takesValue(rest.get(i - 1));
      if (flagPosition && i > 0 && word.startsWith("$")) {
        continue;
      }
      words.add(word);
    }
    return words;
  }

  private static boolean takesValue(String previous) {
    return previous.startsWith("--") && !previous.contains("=");
  }

  /** The words of a shell line: quotes removed, a comment ending it; redirections dropped. */
  private static List<String> words(String line) {
    List<String> words = new ArrayList<>();
    StringBuilder word = null;
    char quote = 0;
    for (int i = 0; i < line.length(); i++) {
      char c = line.charAt(i);
      if (quote != 0) {
        if (c == quote) {
          quote = 0;
        } else {
          word.append(c);
        }
      } else if (c == '\'' || c == '"') {
        quote = c;
        word = word == null ? new StringBuilder() : word;
      } else if (Character.isWhitespace(c)) {
        if (word != null) {
          words.add(word.toString());
          word = null;
        }
      } else if (c == '#' && word == null) {
        break;
      } else {
        word = word == null ? new StringBuilder() : word;
        word.append(c);
      }
    }
    if (word != null) {
      words.add(word.toString());
    }
    return words;
  }

  /** The commands of a line, split at its shell separators, without redirections or parens. */
  private static List<List<String>> segments(List<String> words) {
    List<List<String>> segments = new ArrayList<>();
    List<String> current = new ArrayList<>();
    boolean redirected = false;
    for (String word : words) {
      if (SEPARATORS.contains(word)) {
        segments.add(current);
        current = new ArrayList<>();
        redirected = false;
        continue;
      }
      if (word.matches("[0-9]*[<>].*")) {
        redirected = !word.matches("[0-9]*>&[0-9]+");
        continue;
      }
      if (redirected) {
        redirected = false;
        continue;
      }
      String bare = word.replaceAll("^\\(+", "").replaceAll("\\)+$", "");
      if (!bare.isEmpty()) {
        current.add(bare);
      }
    }
    segments.add(current);
    return segments;
  }
}
