package org.meft.train;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import org.meft.adapter.MeterTotals;

/**
 * The trainer's counters between two optimizer steps: with the adapter weights, the host store and
 * the device optimizer's moments, everything a resumed run needs to continue exactly as an
 * uninterrupted one (the data order is replayed from {@code examplesDrawn}, the learning rate is a
 * function of {@code step}, and dropout is reseeded per step).
 *
 * @param step optimizer steps done (skipped ones included)
 * @param examplesDrawn examples taken from the seeded data order so far
 * @param skippedSteps steps skipped for a non-finite loss or gradient
 * @param badInARow the current run of skipped steps
 * @param tokens tokens processed so far
 * @param trainNanos time spent training so far, over every process of the run
 * @param optimizerStep the device AdamW's step count t
 * @param losses the loss of every step done (NaN for skipped ones)
 * @param meters the adapters' meters over the steps done (bus bytes, rows, device peak)
 */
public record TrainerState(
    int step,
    long examplesDrawn,
    int skippedSteps,
    int badInARow,
    long tokens,
    long trainNanos,
    int optimizerStep,
    List<Float> losses,
    MeterTotals meters) {

  public TrainerState {
    long[] counters = {
      step, examplesDrawn, skippedSteps, badInARow, tokens, trainNanos, optimizerStep
    };
    String[] names = {
      "step",
      "examples_drawn",
      "skipped_steps",
      "bad_in_a_row",
      "tokens",
      "train_nanos",
      "optimizer_step"
    };
    for (int i = 0; i < counters.length; i++) {
      if (counters[i] < 0) {
        throw new IllegalArgumentException(
            "trainer_state." + names[i] + " " + counters[i] + ": must be >= 0");
      }
    }
    if (losses.size() != step) {
      throw new IllegalArgumentException(
          "trainer state: " + losses.size() + " losses for " + step + " steps");
    }
    losses = List.copyOf(losses);
    meters = meters == null ? MeterTotals.NONE : meters;
  }

  /**
   * Checks the counters against each other and against the run's settings, so that a manifest
   * edited by hand or damaged cannot resume into a wrong state (a negative optimizer step, a data
   * cursor that would take forever to replay): every step draws {@code batchSize * accumulation}
   * examples of at most {@code maxLength} tokens, every step not skipped is one optimizer step,
   * skipped steps are the NaN losses, and no run goes past its steps.
   *
   * @throws IllegalArgumentException naming the field, its value and what was expected
   */
  public void checkAgainst(TrainConfig config) {
    long perStep = (long) config.batchSize() * config.accumulation();
    long nanLosses = losses.stream().filter(l -> Float.isNaN(l)).count();
    if (step > config.steps()) {
      throw new IllegalArgumentException(
          "trainer_state.step " + step + ": the run has only " + config.steps() + " steps");
    }
    if (examplesDrawn != step * perStep) {
      throw new IllegalArgumentException(
          "trainer_state.examples_drawn "
              + examplesDrawn
              + ": expected step "
              + step
              + " x batch-size "
              + config.batchSize()
              + " x accumulation "
              + config.accumulation()
              + " = "
              + step * perStep);
    }
    if (skippedSteps != nanLosses) {
      throw new IllegalArgumentException(
          "trainer_state.skipped_steps "
              + skippedSteps
              + ": expected "
              + nanLosses
              + ", the number of null losses");
    }
    if (badInARow > skippedSteps) {
      throw new IllegalArgumentException(
          "trainer_state.bad_in_a_row " + badInARow + ": more than skipped_steps " + skippedSteps);
    }
    if (optimizerStep != step - skippedSteps) {
      throw new IllegalArgumentException(
          "trainer_state.optimizer_step "
              + optimizerStep
              + ": expected step "
              + step
              + " - skipped_steps "
              + skippedSteps
              + " = "
              + (step - skippedSteps));
    }
    if (tokens > examplesDrawn * config.maxLength()) {
      throw new IllegalArgumentException(
          "trainer_state.tokens "
              + tokens
              + ": more than examples_drawn x max-length "
              + examplesDrawn * config.maxLength());
    }
  }

  /** The state of a run that has not started. */
  public static TrainerState initial() {
    return new TrainerState(0, 0, 0, 0, 0, 0, 0, List.of(), MeterTotals.NONE);
  }

  /** As JSON; a skipped step's loss is null (JSON has no NaN). */
  public JsonObject toJson() {
    JsonObject json = new JsonObject();
    json.addProperty("step", step);
    json.addProperty("examples_drawn", examplesDrawn);
    json.addProperty("skipped_steps", skippedSteps);
    json.addProperty("bad_in_a_row", badInARow);
    json.addProperty("tokens", tokens);
    json.addProperty("train_nanos", trainNanos);
    json.addProperty("optimizer_step", optimizerStep);
    JsonArray array = new JsonArray();
    for (float loss : losses) {
      if (Float.isNaN(loss)) {
        array.add(JsonNull.INSTANCE);
      } else {
        array.add(loss);
      }
    }
    json.add("losses", array);
    json.add("meters", meters.toJson());
    return json;
  }

  /**
   * Reads {@link #toJson}'s output.
   *
   * @throws IllegalArgumentException naming the missing or malformed field
   */
  public static TrainerState fromJson(JsonObject json) {
    JsonElement lossesJson = json.get("losses");
    if (lossesJson == null || !lossesJson.isJsonArray()) {
      throw new IllegalArgumentException("trainer_state.losses: expected an array");
    }
    List<Float> losses = new ArrayList<>();
    for (JsonElement loss : lossesJson.getAsJsonArray()) {
      losses.add(loss.isJsonNull() ? Float.NaN : loss.getAsFloat());
    }
    return new TrainerState(
        integer(json, "step"),
        number(json, "examples_drawn"),
        integer(json, "skipped_steps"),
        integer(json, "bad_in_a_row"),
        number(json, "tokens"),
        number(json, "train_nanos"),
        integer(json, "optimizer_step"),
        losses,
        MeterTotals.fromJson(json.get("meters")));
  }

  private static int integer(JsonObject json, String field) {
    long value = number(json, field);
    if (value != (int) value) {
      throw new IllegalArgumentException(
          "trainer_state." + field + " " + value + ": expected a 32-bit integer");
    }
    return (int) value;
  }

  private static long number(JsonObject json, String field) {
    JsonElement value = json.get(field);
    try {
      return value.getAsLong();
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          "trainer_state." + field + ": expected an integer, got " + value);
    }
  }
}
