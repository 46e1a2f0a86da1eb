package org.meft.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bin/meft plan} on LLaMA-7B's public config.json, and the preflight of {@code train}: a
 * configuration over its device memory is refused before any weight loads, naming the component and
 * the largest adapter size that fits. meft is planned with {@code --recompute-activations}: without
 * it, {@code train-rows all} holds every layer's groups of rows until backward (80 GiB at their
 * largest), which the test of the two {@code train-rows} settings shows.
 */
class PlanCommandTest {
  private static final Path LLAMA_7B = Path.of("..", "examples", "llama-7b", "config.json");
  @TempDir static Path dir;
  static Path noWeights;
  static Path data;

  /** A model folder with config.json and tokenizer.json but no weights: loading it would fail. */
  @BeforeAll
  static void writeModelWithoutWeights() throws Exception {
    Path model = MainTest.tinyModel(dir.resolve("tiny"));
    noWeights = Files.createDirectories(dir.resolve("no-weights"));
    for (String file : List.of("config.json", "tokenizer.json")) {
      Files.copy(model.resolve(file), noWeights.resolve(file));
    }
    data = dir.resolve("pairs.jsonl");
    Files.write(data, List.of("{\"prompt\": \"1 + 1 =\", \"target\": \" 2\"}"));
  }

  @Test
  void plansLlama7bFromItsConfigJson() {
    MainTest.Result result =
        MainTest.meft(
            "plan",
            "--model",
            LLAMA_7B.toString(),
            "--method",
            "meft",
            "--adapter-size",
            "65536",
            "--batch-size",
            "1",
            "--max-length",
            "512",
            "--recompute-activations",
            "--device-memory-gb",
            "24",
            "--json");
    assertEquals(0, result.code(), result.err());
    String[] lines = result.out().strip().split("\n");
    JsonObject json = JsonParser.parseString(lines[lines.length - 1]).getAsJsonObject();
    JsonObject device = json.getAsJsonObject("device_bytes");
    // 6.74e9 parameters in bf16.
    assertEquals(2L * 6_738_415_616L, device.get("base_weights").getAsLong());
    assertEquals("bf16", json.get("base_dtype").getAsString());
    assertTrue(device.get("total").getAsLong() < 24L << 30, json.toString());
    assertTrue(
        json.get("verdicts").getAsJsonArray().get(0).getAsJsonObject().get("fits").getAsBoolean());
    assertTrue(json.get("largest_adapter_size_for_device").getAsInt() > 65536);
    assertTrue(json.getAsJsonObject("host_bytes").get("host_store").getAsLong() > 0);
    // Evaluation beside the 12.6 GiB of weights: 2.88 GiB a sequence (KV caches of 4,096
    // positions, 2 GiB, and the prompt's activations); its attention scores are chunked, where
    // whole they would add 6 GiB a sequence and leave room for one.
    assertEquals(3, json.get("decode_batch_for_device").getAsInt());
  }

  /**
   * Without recomputation, {@code train-rows all} holds every layer's groups until backward: at
   * their largest (512 tokens choosing 64 rows each, none shared) 32 groups of 1,024 rows a layer,
   * 64 GiB of rows and their gradients in 32 layers; {@code capped} holds one group of 1,024.
   */
  @Test
  void trainRowsAllHoldsEveryGroupOfEveryLayer() {
    long[] adapterRows = new long[2];
    String[] settings = {"all", "capped"};
    for (int i = 0; i < settings.length; i++) {
      MainTest.Result result =
          MainTest.meft(
              "plan",
              "--model",
              LLAMA_7B.toString(),
              "--method",
              "meft",
              "--adapter-size",
              "65536",
              "--top-k",
              "64",
              "--batch-size",
              "1",
              "--max-length",
              "512",
              "--train-rows",
              settings[i],
              "--json");
      assertEquals(0, result.code(), result.err());
      String[] lines = result.out().strip().split("\n");
      JsonObject json = JsonParser.parseString(lines[lines.length - 1]).getAsJsonObject();
      adapterRows[i] = json.getAsJsonObject("device_bytes").get("adapter_rows").getAsLong();
    }
    long rowBytes = 2L * 4096 * Float.BYTES; // a key and a value row
    assertEquals(32L * 32 * 1025 * rowBytes, adapterRows[0]);
    assertEquals(32L * 1025 * rowBytes, adapterRows[1]);
  }

  @Test
  void trainRefusesAPlanOverTheDeviceMemoryBeforeLoadingWeights() {
    MainTest.Result refused =
        MainTest.meft(
            "train",
            "--model",
            noWeights.toString(),
            "--data",
            data.toString(),
            "--method",
            "parallel",
            "--adapter-size",
            "65536",
            "--steps",
            "1",
            "--batch-size",
            "1",
            "--lr",
            "1e-3",
            "--device-memory-gb",
            "0.01");
    assertEquals(1, refused.code(), refused.err());
    String err = refused.err();
    assertTrue(err.contains("refused before loading any weights"), err);
    assertTrue(err.contains("device memory: plan"), err);
    assertTrue(err.contains("its largest component is optimizer_state"), err);
    Matcher largest = Pattern.compile("the largest adapter-size that fits is (\\d+)").matcher(err);
    assertTrue(largest.find(), err);
    int n = Integer.parseInt(largest.group(1));
    assertTrue(n > 0 && n < 65536, err);

    // The largest size passes the preflight and goes on to load the weights, which are missing.
    MainTest.Result fits =
        MainTest.meft(
            "train",
            "--model",
            noWeights.toString(),
            "--data",
            data.toString(),
            "--method",
            "parallel",
            "--adapter-size",
            Integer.toString(n),
            "--steps",
            "1",
            "--batch-size",
            "1",
            "--lr",
            "1e-3",
            "--device-memory-gb",
            "0.01");
    assertEquals(1, fits.code(), fits.err());
    assertTrue(!fits.err().contains("memory plan does not fit"), fits.err());
    assertTrue(fits.err().contains("safetensors"), fits.err());
  }

  /**
   * A config.json the plan cannot stand for is refused naming the field, a sequence past the
   * model's positions is refused, and a device too small to decode one sequence says so.
   */
  @Test
  void refusesWhatItCannotPlanAndSaysWhenNothingDecodes() throws Exception {
    String llama = Files.readString(LLAMA_7B);
    Path gpt2 = Files.createDirectories(dir.resolve("gpt2")).resolve("config.json");
    Files.writeString(gpt2, llama.replace("\"model_type\": \"llama\"", "\"model_type\": \"gpt2\""));
    Path xyz = Files.createDirectories(dir.resolve("xyz")).resolve("config.json");
    Files.writeString(
        xyz, llama.replaceAll("\"torch_dtype\": \"[a-z0-9]+\"", "\"torch_dtype\": \"xyz\""));
    for (Path config : List.of(gpt2, xyz)) {
      MainTest.Result refused =
          MainTest.meft(
              "plan", "--model", config.toString(), "--method", "lora", "--batch-size", "1");
      assertEquals(1, refused.code(), refused.out());
      assertTrue(refused.err().contains(config.toString()), refused.err());
      assertTrue(
          refused.err().contains(config == gpt2 ? "'model_type'" : "'torch_dtype'"), refused.err());
    }
    MainTest.Result tooLong =
        MainTest.meft(
            "plan",
            "--model",
            LLAMA_7B.toString(),
            "--method",
            "lora",
            "--batch-size",
            "1",
            "--seq-len",
            "100000");
    assertEquals(2, tooLong.code(), tooLong.out());
    assertTrue(tooLong.err().contains("past the model's 4096 positions"), tooLong.err());
    MainTest.Result tiny =
        MainTest.meft(
            "plan",
            "--model",
            LLAMA_7B.toString(),
            "--method",
            "lora",
            "--batch-size",
            "1",
            "--device-memory-gb",
            "0.000001");
    assertEquals(0, tiny.code(), tiny.err());
    assertTrue(tiny.out().contains("does not fit"), tiny.out());
    assertTrue(tiny.out().contains("evaluation cannot decode within"), tiny.out());
    assertFalse(tiny.out().contains("decodes 1 sequences"), tiny.out());
  }
}
