package org.meft.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.meft.testing.Shared;

class BpeTokenizerTrainerTest {

  private static final int VOCAB_SIZE = 512;

  @TempDir static Path dir;

  private static String json;
  private static Path tokenizerJson;

  @BeforeAll
  static void train() throws IOException {
    tokenizerJson = dir.resolve("model").resolve("tokenizer.json");
    BpeTokenizerTrainer.write(tokenizerJson, BpeTokenizerTrainer.defaultCorpus(), VOCAB_SIZE);
    json = Files.readString(tokenizerJson, StandardCharsets.UTF_8);
  }

  private static HuggingFaceTokenizer load(Path path, boolean addSpecialTokens) throws IOException {
    return HuggingFaceTokenizer.newInstance(
        path, Map.of("addSpecialTokens", Boolean.toString(addSpecialTokens)));
  }

  @Test
  void decodeInvertsEncode() throws IOException {
    List<String> texts =
        List.of(
            "Once upon a time, there was a little fox.",
            "Question: What is 12 * 4? Answer: 48.",
            "Call tokenizer.encode(text) and getIds().",
            "naïve café — 東京 🙂",
            " leading space",
            "trailing space ",
            "  multiple   spaces  inside  ",
            "line one\nline two\ttabbed",
            "literal <0x41> and </s",
            "");
    try (HuggingFaceTokenizer tokenizer = load(tokenizerJson, false)) {
      for (String text : texts) {
        long[] ids = tokenizer.encode(text).getIds();
        assertEquals(text, tokenizer.decode(ids), () -> "round trip of '" + text + "'");
      }
    }
  }

  @Test
  void unknownCharactersFallBackToBytes() throws IOException {
    try (HuggingFaceTokenizer tokenizer = load(tokenizerJson, false)) {
      Encoding encoding = tokenizer.encode("東");
      // "▁" then the three UTF-8 bytes E6 9D B1, each byte token at id 3 + byte.
      long[] ids = encoding.getIds();
      assertEquals(4, ids.length);
      assertArrayEquals(
          new long[] {3 + 0xE6, 3 + 0x9D, 3 + 0xB1}, new long[] {ids[1], ids[2], ids[3]});
    }
  }

  @Test
  void vocabHasTheRequestedSizeAndIdsStayBelowIt() throws IOException {
    assertEquals(VOCAB_SIZE, BpeTokenizerTrainer.vocabSizeOf(json));
    JsonObject model = JsonParser.parseString(json).getAsJsonObject().getAsJsonObject("model");
    JsonObject vocab = model.getAsJsonObject("vocab");
    assertEquals(0, vocab.get("<unk>").getAsInt());
    assertEquals(1, vocab.get("<s>").getAsInt());
    assertEquals(2, vocab.get("</s>").getAsInt());
    assertEquals(3, vocab.get("<0x00>").getAsInt());
    assertEquals(258, vocab.get("<0xFF>").getAsInt());
    // Ids are dense: 0..size-1, each once.
    assertEquals(
        VOCAB_SIZE,
        vocab.entrySet().stream()
            .mapToInt(e -> e.getValue().getAsInt())
            .distinct()
            .filter(id -> id >= 0 && id < VOCAB_SIZE)
            .count());
    try (HuggingFaceTokenizer tokenizer = load(tokenizerJson, true)) {
      String text = BpeTokenizerTrainer.defaultCorpus() + " naïve 東京 🙂";
      for (long id : tokenizer.encode(text).getIds()) {
        assertTrue(id >= 0 && id < VOCAB_SIZE, () -> "id " + id);
      }
    }
  }

  @Test
  void frequentWordsBecomeSingleTokens() throws IOException {
    try (HuggingFaceTokenizer tokenizer = load(tokenizerJson, false)) {
      Encoding encoding = tokenizer.encode("the fox and the bird");
      assertArrayEquals(
          new String[] {"▁the", "▁fox", "▁and", "▁the", "▁bird"}, encoding.getTokens());
    }
  }

  @Test
  void specialTokensPrependBos() throws IOException {
    try (HuggingFaceTokenizer tokenizer = load(tokenizerJson, true)) {
      long[] ids = tokenizer.encode("Once upon a time").getIds();
      assertEquals(1, ids[0]);
      assertEquals("Once upon a time", tokenizer.decode(ids, true));
    }
    try (HuggingFaceTokenizer tokenizer = load(tokenizerJson, false)) {
      assertTrue(tokenizer.encode("Once upon a time").getIds()[0] != 1);
    }
  }

  @Test
  void trainingIsDeterministic() {
    String corpus = BpeTokenizerTrainer.defaultCorpus();
    assertEquals(json, BpeTokenizerTrainer.trainTokenizerJson(corpus, VOCAB_SIZE));
  }

  @Test
  void smallCorpusStopsEarlyAndTooSmallVocabIsRejected() {
    String small = "ab ab ab cd";
    // Normalised "▁ab▁ab▁ab▁cd": alphabet ▁ a b c d, then merges "a b", "▁ ab".
    String trained = BpeTokenizerTrainer.trainTokenizerJson(small, 1000);
    assertEquals(
        BpeTokenizerTrainer.FIXED_TOKENS + 5 + 2, BpeTokenizerTrainer.vocabSizeOf(trained));
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> BpeTokenizerTrainer.trainTokenizerJson(small, 263));
    assertTrue(e.getMessage().contains("264"), e.getMessage());
  }

  @Test
  void layoutMatchesStories260K() throws IOException {
    Path stories260k = Shared.require("models/stories260K-hf/tokenizer.json");
    JsonObject real =
        JsonParser.parseString(Files.readString(stories260k, StandardCharsets.UTF_8))
            .getAsJsonObject();
    JsonObject ours = JsonParser.parseString(json).getAsJsonObject();
    assertEquals(real.keySet(), ours.keySet());
    for (String key :
        List.of(
            "version",
            "truncation",
            "padding",
            "added_tokens",
            "normalizer",
            "pre_tokenizer",
            "post_processor",
            "decoder")) {
      assertEquals(real.get(key), ours.get(key), key);
    }
    JsonObject realModel = real.getAsJsonObject("model");
    JsonObject ourModel = ours.getAsJsonObject("model");
    assertEquals(realModel.keySet(), ourModel.keySet());
    for (String key : realModel.keySet()) {
      if (!key.equals("vocab") && !key.equals("merges")) {
        assertEquals(realModel.get(key), ourModel.get(key), key);
      }
    }
    for (int id = 0; id < BpeTokenizerTrainer.FIXED_TOKENS; id++) {
      int expected = id;
      String token =
          realModel.getAsJsonObject("vocab").entrySet().stream()
              .filter(e -> e.getValue().getAsInt() == expected)
              .findFirst()
              .orElseThrow()
              .getKey();
      assertEquals(id, ourModel.getAsJsonObject("vocab").get(token).getAsInt(), token);
    }

    // Both load in DJL and agree on text the two vocabularies share.
    try (HuggingFaceTokenizer theirs = load(stories260k, true);
        HuggingFaceTokenizer mine = load(tokenizerJson, true)) {
      String text = "naïve 🙂";
      assertEquals(theirs.decode(theirs.encode(text).getIds(), true), text);
      assertEquals(mine.decode(mine.encode(text).getIds(), true), text);
      // Neither vocabulary has 東: both fall back to the same byte ids after <s> and ▁.
      long[] theirIds = theirs.encode("東").getIds();
      long[] myIds = mine.encode("東").getIds();
      assertArrayEquals(
          Arrays.copyOfRange(theirIds, 2, theirIds.length),
          Arrays.copyOfRange(myIds, 2, myIds.length));
    }
  }
}
