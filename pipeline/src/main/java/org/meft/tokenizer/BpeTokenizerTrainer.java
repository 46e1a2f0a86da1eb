package org.meft.tokenizer;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.meft.format.AtomicFiles;

/**
 * Trains a small byte-fallback BPE tokenizer on a text corpus and renders it as a Hugging Face
 * {@code tokenizer.json} in the layout of the SentencePiece-converted LLaMA tokenizers (such as the
 * one of stories260K), so that a randomly initialised LLaMA model can ship with a tokenizer without
 * downloading anything.
 *
 * <p>Vocabulary layout:
 *
 * <ul>
 *   <li>ids 0, 1, 2: {@code <unk>}, {@code <s>}, {@code </s>}, also listed as special added tokens;
 *   <li>ids 3..258: the byte tokens {@code <0x00>}..{@code <0xFF>}, which encode (byte fallback)
 *       any character that has no token of its own;
 *   <li>then one token per character of the corpus (the alphabet), by decreasing frequency, then
 *       code point;
 *   <li>then one token per learned merge, in merge order.
 * </ul>
 *
 * <p>The pipeline matches LLaMA's: the normalizer prepends {@code ▁} and replaces spaces with
 * {@code ▁}; there is no pre-tokenizer; the post-processor prepends {@code <s>}; the decoder turns
 * {@code ▁} back into spaces, decodes byte tokens, fuses and strips the one leading space that the
 * normalizer added. The model is {@code BPE} with {@code byte_fallback} and {@code fuse_unk}.
 *
 * <p>Training treats each line of the corpus as a sequence, normalised as above, and splits it
 * before every {@code ▁}, so that, as with SentencePiece, a token never spans two words (a word
 * token carries its leading {@code ▁}). It then repeatedly merges the most frequent adjacent pair
 * (ties broken by the lexicographically smallest pair) until the vocabulary holds the requested
 * number of tokens or no pair occurs at least twice. The vocabulary can therefore come out smaller
 * than requested for a small corpus: {@link #vocabSizeOf} reads the actual size. The output is
 * deterministic: the same corpus and size give byte-identical JSON.
 */
public final class BpeTokenizerTrainer {

  /** The SentencePiece whitespace mark, U+2581. */
  static final String SPACE_MARK = "\u2581";

  /** Number of tokens before the alphabet: three special tokens and 256 byte tokens. */
  public static final int FIXED_TOKENS = 3 + 256;

  private static final String UNK = "<unk>";
  private static final String BOS = "<s>";
  private static final String EOS = "</s>";
  private static final String DEFAULT_CORPUS = "default-corpus.txt";

  private BpeTokenizerTrainer() {}

  /**
   * Trains a tokenizer on {@code corpus} and returns its {@code tokenizer.json} text.
   *
   * @param vocabSize the requested vocabulary size, counting the 259 fixed tokens; the result may
   *     be smaller when the corpus runs out of pairs to merge, see {@link #vocabSizeOf}
   * @throws IllegalArgumentException when {@code vocabSize} is below 259 plus the number of
   *     distinct characters of the normalised corpus
   */
  public static String trainTokenizerJson(String corpus, int vocabSize) {
    Map<String, Integer> wordCounts = new TreeMap<>();
    Map<Integer, Integer> charCounts = new HashMap<>();
    for (String line : corpus.split("\\R")) {
      if (line.isEmpty()) {
        continue;
      }
      String normalized = SPACE_MARK + line.replace(" ", SPACE_MARK);
      normalized.codePoints().forEach(cp -> charCounts.merge(cp, 1, Integer::sum));
      int start = 0;
      for (int i = 1; i < normalized.length(); i++) {
        if (normalized.charAt(i) == SPACE_MARK.charAt(0)) {
          wordCounts.merge(normalized.substring(start, i), 1, Integer::sum);
          start = i;
        }
      }
      wordCounts.merge(normalized.substring(start), 1, Integer::sum);
    }

    List<Integer> alphabet =
        charCounts.keySet().stream()
            .sorted(
                Comparator.comparing((Integer cp) -> -charCounts.get(cp))
                    .thenComparing(Comparator.naturalOrder()))
            .toList();
    int minimum = FIXED_TOKENS + alphabet.size();
    if (vocabSize < minimum) {
      throw new IllegalArgumentException(
          "vocabSize "
              + vocabSize
              + " is too small: the minimum for this corpus is "
              + minimum
              + " ("
              + FIXED_TOKENS
              + " fixed tokens + "
              + alphabet.size()
              + " distinct characters)");
    }

    Map<String, Integer> vocab = new LinkedHashMap<>();
    for (String token : fixedTokens()) {
      vocab.put(token, vocab.size());
    }
    int fixedCount = vocab.size();
    for (int cp : alphabet) {
      vocab.put(Character.toString(cp), vocab.size());
    }

    List<List<String>> words = new ArrayList<>();
    List<Integer> counts = new ArrayList<>();
    wordCounts.forEach(
        (word, count) -> {
          words.add(word.codePoints().mapToObj(Character::toString).toList());
          counts.add(count);
        });

    List<String> merges = new ArrayList<>();
    while (vocab.size() < vocabSize) {
      Pair best = mostFrequentPair(words, counts, vocab, fixedCount);
      if (best == null) {
        break;
      }
      words.replaceAll(word -> applyMerge(word, best));
      merges.add(best.left() + " " + best.right());
      // Two different merges may build the same token ("▁t he", "▁th e"); HF keeps both merges
      // and the token keeps its first id.
      vocab.putIfAbsent(best.merged(), vocab.size());
    }
    return render(vocab, merges);
  }

  /** Trains a tokenizer as {@link #trainTokenizerJson} does and writes it atomically. */
  public static void write(Path tokenizerJson, String corpus, int vocabSize) throws IOException {
    String json = trainTokenizerJson(corpus, vocabSize);
    Path target = tokenizerJson.toAbsolutePath();
    Files.createDirectories(target.getParent());
    Path temp = AtomicFiles.createSibling(target);
    try {
      Files.writeString(temp, json, StandardCharsets.UTF_8);
      try {
        Files.move(
            temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
      }
    } finally {
      Files.deleteIfExists(temp);
    }
  }

  /** The actual vocabulary size (special, byte and learned tokens) of a {@code tokenizer.json}. */
  public static int vocabSizeOf(String tokenizerJson) {
    return JsonParser.parseString(tokenizerJson)
        .getAsJsonObject()
        .getAsJsonObject("model")
        .getAsJsonObject("vocab")
        .size();
  }

  /** The embedded default training corpus: a few KB of short English stories and Q&amp;A. */
  public static String defaultCorpus() {
    try (InputStream in = BpeTokenizerTrainer.class.getResourceAsStream(DEFAULT_CORPUS)) {
      if (in == null) {
        throw new IllegalStateException("class path resource missing: " + DEFAULT_CORPUS);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + DEFAULT_CORPUS, e);
    }
  }

  private record Pair(String left, String right) {
    String merged() {
      return left + right;
    }
  }

  private static List<String> fixedTokens() {
    List<String> tokens = new ArrayList<>(List.of(UNK, BOS, EOS));
    for (int b = 0; b < 256; b++) {
      tokens.add(String.format("<0x%02X>", b));
    }
    return tokens;
  }

  /**
   * The most frequent adjacent pair occurring at least twice, or null. A pair that would rebuild
   * one of the fixed tokens (say "<s" + ">") is never chosen: the model would map it to that
   * token's id and the text would decode differently.
   */
  private static Pair mostFrequentPair(
      List<List<String>> words, List<Integer> counts, Map<String, Integer> vocab, int fixedCount) {
    Map<Pair, Integer> pairCounts = new HashMap<>();
    for (int w = 0; w < words.size(); w++) {
      List<String> word = words.get(w);
      for (int i = 0; i + 1 < word.size(); i++) {
        pairCounts.merge(new Pair(word.get(i), word.get(i + 1)), counts.get(w), Integer::sum);
      }
    }
    Pair best = null;
    int bestCount = 1;
    for (Map.Entry<Pair, Integer> entry : pairCounts.entrySet()) {
      Pair pair = entry.getKey();
      int count = entry.getValue();
      Integer existing = vocab.get(pair.merged());
      if (existing != null && existing < fixedCount) {
        continue;
      }
      if (count > bestCount || (count == bestCount && best != null && compare(pair, best) < 0)) {
        best = pair;
        bestCount = count;
      }
    }
    return best;
  }

  private static int compare(Pair a, Pair b) {
    int byLeft = a.left().compareTo(b.left());
    return byLeft != 0 ? byLeft : a.right().compareTo(b.right());
  }

  private static List<String> applyMerge(List<String> word, Pair pair) {
    List<String> merged = new ArrayList<>(word.size());
    int i = 0;
    while (i < word.size()) {
      if (i + 1 < word.size()
          && word.get(i).equals(pair.left())
          && word.get(i + 1).equals(pair.right())) {
        merged.add(pair.merged());
        i += 2;
      } else {
        merged.add(word.get(i));
        i++;
      }
    }
    return merged;
  }

  private static String render(Map<String, Integer> vocab, List<String> merges) {
    JsonObject root = new JsonObject();
    root.addProperty("version", "1.0");
    root.add("truncation", JsonNull.INSTANCE);
    root.add("padding", JsonNull.INSTANCE);
    JsonArray added = new JsonArray();
    for (String token : List.of(UNK, BOS, EOS)) {
      JsonObject entry = new JsonObject();
      entry.addProperty("id", vocab.get(token));
      entry.addProperty("content", token);
      entry.addProperty("single_word", false);
      entry.addProperty("lstrip", false);
      entry.addProperty("rstrip", false);
      entry.addProperty("normalized", false);
      entry.addProperty("special", true);
      added.add(entry);
    }
    root.add("added_tokens", added);

    JsonObject prepend = typed("Prepend");
    prepend.addProperty("prepend", SPACE_MARK);
    root.add("normalizer", sequence("normalizers", prepend, replace(" ", SPACE_MARK)));
    root.add("pre_tokenizer", JsonNull.INSTANCE);
    root.add("post_processor", bosTemplate());
    JsonObject strip = typed("Strip");
    strip.addProperty("content", " ");
    strip.addProperty("start", 1);
    strip.addProperty("stop", 0);
    root.add(
        "decoder",
        sequence(
            "decoders", replace(SPACE_MARK, " "), typed("ByteFallback"), typed("Fuse"), strip));

    JsonObject model = typed("BPE");
    model.add("dropout", JsonNull.INSTANCE);
    model.addProperty("unk_token", UNK);
    model.add("continuing_subword_prefix", JsonNull.INSTANCE);
    model.add("end_of_word_suffix", JsonNull.INSTANCE);
    model.addProperty("fuse_unk", true);
    model.addProperty("byte_fallback", true);
    JsonObject vocabJson = new JsonObject();
    vocab.forEach(vocabJson::addProperty);
    model.add("vocab", vocabJson);
    JsonArray mergesJson = new JsonArray();
    merges.forEach(mergesJson::add);
    model.add("merges", mergesJson);
    root.add("model", model);

    return new GsonBuilder()
            .setPrettyPrinting()
            .serializeNulls()
            .disableHtmlEscaping()
            .create()
            .toJson(root)
        + "\n";
  }

  private static JsonObject typed(String type) {
    JsonObject object = new JsonObject();
    object.addProperty("type", type);
    return object;
  }

  private static JsonObject sequence(String key, JsonObject... steps) {
    JsonObject object = typed("Sequence");
    JsonArray array = new JsonArray();
    for (JsonObject step : steps) {
      array.add(step);
    }
    object.add(key, array);
    return object;
  }

  private static JsonObject replace(String from, String to) {
    JsonObject object = typed("Replace");
    JsonObject pattern = new JsonObject();
    pattern.addProperty("String", from);
    object.add("pattern", pattern);
    object.addProperty("content", to);
    return object;
  }

  /** A template piece: {@code {kind: {id, type_id}}}, kind SpecialToken or Sequence. */
  private static JsonObject templatePiece(String kind, String id, int typeId) {
    JsonObject inner = new JsonObject();
    inner.addProperty("id", id);
    inner.addProperty("type_id", typeId);
    JsonObject object = new JsonObject();
    object.add(kind, inner);
    return object;
  }

  /** LLaMA's template: {@code <s> A} for one sequence, {@code <s> A <s> B} for a pair. */
  private static JsonObject bosTemplate() {
    JsonObject object = typed("TemplateProcessing");
    JsonArray single = new JsonArray();
    single.add(templatePiece("SpecialToken", BOS, 0));
    single.add(templatePiece("Sequence", "A", 0));
    object.add("single", single);
    JsonArray pair = new JsonArray();
    pair.add(templatePiece("SpecialToken", BOS, 0));
    pair.add(templatePiece("Sequence", "A", 0));
    pair.add(templatePiece("SpecialToken", BOS, 1));
    pair.add(templatePiece("Sequence", "B", 1));
    object.add("pair", pair);
    JsonObject bos = new JsonObject();
    bos.addProperty("id", BOS);
    JsonArray ids = new JsonArray();
    ids.add(1);
    bos.add("ids", ids);
    JsonArray tokens = new JsonArray();
    tokens.add(BOS);
    bos.add("tokens", tokens);
    JsonObject specials = new JsonObject();
    specials.add(BOS, bos);
    object.add("special_tokens", specials);
    return object;
  }
}
