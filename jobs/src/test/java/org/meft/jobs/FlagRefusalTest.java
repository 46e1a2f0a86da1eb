package org.meft.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Out-of-range flags and bad input files on the command line, run in-process: each is refused
 * before any training with its exit code (2: a flag out of its range, 1: a file that cannot be
 * used) and one error line naming the flag or file, never "internal error".
 */
class FlagRefusalTest {
  @TempDir static Path dir;
  static Path model;
  static Path data;

  @BeforeAll
  static void writeModelAndData() throws Exception {
    model = MainTest.tinyModel(dir.resolve("tiny")); // 64 positions
    data = dir.resolve("pairs.jsonl");
    Files.writeString(data, "{\"prompt\": \"a\", \"target\": \"b\"}\n");
    ByteArrayOutputStream bad = new ByteArrayOutputStream();
    bad.write(Files.readAllBytes(data));
    bad.write(new byte[] {'{', '"', 'p', (byte) 0xC3, 0x28, '"', '}', '\n'});
    Files.write(dir.resolve("not-utf8.jsonl"), bad.toByteArray());
    Files.writeString(dir.resolve("long.jsonl"), "{\"prompt\": \"" + "a".repeat(2 << 20) + "\"}\n");
    Path fractional = dir.resolve("fractional");
    Files.createDirectories(fractional);
    try (Stream<Path> files = Files.list(model)) {
      for (Path file : files.toList()) {
        Files.copy(file, fractional.resolve(file.getFileName()));
      }
    }
    Path config = fractional.resolve("config.json");
    Files.writeString(
        config,
        Files.readString(config).replaceFirst("\"hidden_size\": 32", "\"hidden_size\": 32.5"));
  }

  /** A row: train with {@code extra} flags after the required ones, for {@code method}. */
  private record Row(String method, List<String> extra, int code, List<String> fragments) {}

  private static Row row(String method, String flags, int code, String... fragments) {
    return new Row(method, List.of(flags.split(" ")), code, List.of(fragments));
  }

  private static DynamicTest test(Row row) {
    return dynamicTest(
        row.method() + " " + String.join(" ", row.extra()),
        () -> {
          List<String> args = new ArrayList<>(List.of("train", "--model", model.toString()));
          if (!row.extra().contains("--data")) {
            args.addAll(List.of("--data", data.toString()));
          }
          args.addAll(List.of("--method", row.method(), "--steps", "10", "--lr", "1e-3"));
          if (!row.extra().contains("--batch-size")) {
            args.addAll(List.of("--batch-size", "2"));
          }
          args.addAll(row.extra());
          MainTest.Result result = MainTest.meft(args.toArray(String[]::new));
          String firstLine = result.err().lines().findFirst().orElse("");
          assertEquals(row.code(), result.code(), result.err());
          assertFalse(result.err().contains("internal error"), result.err());
          assertFalse(result.err().contains("\tat "), result.err());
          for (String fragment : row.fragments()) {
            assertTrue(firstLine.contains(fragment), () -> fragment + " not in: " + firstLine);
          }
        });
  }

  @TestFactory
  Stream<DynamicTest> outOfRangeFlags() {
    return Stream.of(
            row("parallel", "--warmup 2147483647", 2, "warmup", "steps"),
            row("parallel", "--warmup 11", 2, "warmup", "steps"),
            row("parallel", "--warmup -1", 2, "warmup"),
            row("parallel", "--key-init Infinity", 2, "key-init"),
            row("parallel", "--key-init NaN", 2, "key-init"),
            row("parallel", "--weight-decay Infinity", 2, "weight-decay"),
            row("parallel", "--weight-decay NaN", 2, "weight-decay"),
            row("parallel", "--lr Infinity", 2, "lr"),
            row("parallel", "--clip Infinity", 2, "clip"),
            row("parallel", "--adapter-size 2000000000", 2, "adapter-size"),
            row("meft", "--adapter-size 2000000000", 2, "adapter-size"),
            row("meft", "--train-rows some", 2, "train-rows", "all or capped"),
            row("lora", "--lora-rank 2000000000", 2, "lora-rank"),
            row("lora", "--lora-alpha Infinity", 2, "lora-alpha"),
            row("parallel", "--batch-size 2147483647", 2, "batch-size"),
            row("parallel", "--accumulation 2147483647", 2, "accumulation"),
            row("parallel", "--max-length 1000", 2, "max-length", "64"),
            row("parallel", "--max-length 2147483647", 2, "max-length"),
            row("parallel", "--host-budget-mb Infinity", 2, "host-budget-mb"),
            row("parallel", "--device-memory-gb Infinity", 2, "device-memory-gb"),
            row(
                "parallel",
                "--data " + dir.resolve("absent.jsonl"),
                1,
                "absent.jsonl",
                "not found"),
            row(
                "parallel",
                "--data " + dir.resolve("not-utf8.jsonl"),
                1,
                "not-utf8.jsonl:2:",
                "UTF-8"),
            row(
                "parallel",
                "--data " + dir.resolve("long.jsonl"),
                1,
                "long.jsonl:1:",
                "longer than"))
        .map(FlagRefusalTest::test);
  }

  /** A row: a whole command line, its exit code and the fragments of its first error line. */
  private static DynamicTest command(String args, int code, String... fragments) {
    return dynamicTest(
        args,
        () -> {
          MainTest.Result result =
              MainTest.meft(args.replace("MODEL", model.toString()).split(" "));
          String firstLine = result.err().lines().findFirst().orElse("");
          assertEquals(code, result.code(), result.err());
          assertFalse(result.err().contains("internal error"), result.err());
          for (String fragment : fragments) {
            assertTrue(firstLine.contains(fragment), () -> fragment + " not in: " + firstLine);
          }
        });
  }

  @TestFactory
  Stream<DynamicTest> otherCommandsFlags() {
    String out = dir.resolve("never-written").toString();
    String generate = "generate --model MODEL --prompt a ";
    String prepare =
        "prepare --input " + out + " --datasets nq --tokenizer " + out + " --output " + out + " ";
    String evaluate = "evaluate --prepared " + out + " --runs " + out + " --output " + out + " ";
    return Stream.of(
        command(
            "generate --model " + dir.resolve("fractional") + " --prompt a --max-new-tokens 2",
            1,
            "config.json",
            "hidden_size",
            "integer"),
        command("init-model --output " + out + " --layers 100000000", 2, "--layers", "4096"),
        command("init-model --output " + out + " --dim 0", 2, "--dim"),
        command("init-model --output " + out + " --vocab 2147483648", 2, "--vocab"),
        command("init-model --output " + out + " --shard-mb -1", 2, "--shard-mb"),
        command(generate + "--max-new-tokens -1", 2, "--max-new-tokens"),
        command(generate + "--max-new-tokens 5 --temperature Infinity", 2, "--temperature"),
        command(generate + "--max-new-tokens 5 --temperature 1 --top-p 0", 2, "--top-p"),
        command(generate + "--max-new-tokens 5 --temperature 1 --top-p NaN", 2, "--top-p"),
        command(evaluate + "--max-new-tokens -1", 2, "--max-new-tokens"),
        command(evaluate + "--decode-batch 0", 2, "--decode-batch"),
        command(evaluate + "--top-p 2", 2, "--top-p"),
        command(evaluate + "--forgetting-prompts 33", 2, "--forgetting-prompts", "32"),
        command(prepare + "--max-length 1", 2, "--max-length"),
        command(prepare + "--shards 0", 2, "--shards"),
        command("plan --model MODEL --method lora --batch-size 1 --seq-len 0", 2, "--seq-len"),
        command(
            "plan --model MODEL --method lora --batch-size 1 --host-memory-gb -1", 2, "--host"));
  }

  @Test
  void anInvalidLogLevelIsOneLineAndExitCode2() throws Exception {
    Path launcher = Path.of("..", "bin", "meft").toAbsolutePath().normalize();
    ProcessBuilder builder = new ProcessBuilder("bash", launcher.toString(), "--help");
    builder.environment().put("MEFT_LOG_LEVEL", "loud");
    Process process = builder.start();
    String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    String err = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(2, process.waitFor());
    assertEquals("", out);
    assertEquals(1, err.lines().count(), err);
    assertTrue(err.contains("MEFT_LOG_LEVEL") && err.contains("'loud'"), err);
  }

  @TestFactory
  Stream<DynamicTest> everySettingStatesItsRangeInHelp() {
    MainTest.Result help = MainTest.meft("train", "--help");
    return org.meft.train.RunSpec.SETTINGS.stream()
        .map(org.meft.train.RunSpec::setting)
        .filter(
            s ->
                s.kind() == org.meft.settings.Setting.Kind.INTEGER
                    || s.kind() == org.meft.settings.Setting.Kind.NUMBER)
        .map(
            s ->
                dynamicTest(
                    s.name(),
                    () -> {
                      String line =
                          help.out()
                              .lines()
                              .filter(l -> l.strip().startsWith("--" + s.name() + " "))
                              .findFirst()
                              .orElse("");
                      assertTrue(
                          line.contains(s.range().toString())
                                  && !s.range().toString().equals("any number")
                              || s.name().equals("seed"),
                          () -> "--" + s.name() + " states no range: " + line);
                    }));
  }
}
