package org.meft.format;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The lines of a UTF-8 text file (a JSON Lines data file), each checked before the work it implies:
 * a line longer than the limit ({@link #MAX_LINE_BYTES} unless given) is refused as soon as the
 * limit is passed (never read whole), and a line that is not valid UTF-8 is refused naming it.
 * Every refusal is an {@link IllegalArgumentException} of one line starting {@code file:line:}.
 */
public final class LineReader implements AutoCloseable {
  /** The longest line read: far above any training example a model's positions can hold. */
  public static final int MAX_LINE_BYTES = 1 << 20;

  private final Path file;
  private final InputStream in;
  private final int maxLineBytes;
  private byte[] line = new byte[8192];
  private int number;

  private LineReader(Path file, InputStream in, int maxLineBytes) {
    this.file = file;
    this.in = in;
    this.maxLineBytes = maxLineBytes;
  }

  /**
   * Opens {@code file}.
   *
   * @throws IllegalArgumentException naming the file when it is not found or cannot be read
   */
  public static LineReader open(Path file) {
    return open(file, MAX_LINE_BYTES);
  }

  /**
   * Opens {@code file}, refusing lines longer than {@code maxLineBytes}.
   *
   * @throws IllegalArgumentException naming the file when it is not found or cannot be read
   */
  public static LineReader open(Path file, int maxLineBytes) {
    try {
      return new LineReader(
          file, new BufferedInputStream(Files.newInputStream(file), 1 << 16), maxLineBytes);
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException(file + ": not found");
    } catch (IOException e) {
      throw new IllegalArgumentException(file + ": cannot read: " + e.getMessage());
    }
  }

  /**
   * The next line without its line terminator ({@code \n} or {@code \r\n}), or null at the end.
   *
   * @throws IllegalArgumentException naming the file and line when the line is too long, is not
   *     UTF-8, or cannot be read
   */
  public String next() {
    int length = 0;
    int b;
    try {
      while ((b = in.read()) >= 0 && b != '\n') {
        if (length == maxLineBytes) {
          throw new IllegalArgumentException(
              where(number + 1) + "line is longer than " + maxLineBytes + " bytes");
        }
        if (length == line.length) {
          line = Arrays.copyOf(line, (int) Math.min(maxLineBytes, line.length * 2L));
        }
        line[length++] = (byte) b;
      }
    } catch (IOException e) {
      throw new IllegalArgumentException(where(number + 1) + "cannot read: " + e.getMessage());
    }
    if (b < 0 && length == 0) {
      return null;
    }
    number++;
    if (length > 0 && line[length - 1] == '\r') {
      length--;
    }
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(line, 0, length))
          .toString();
    } catch (CharacterCodingException e) {
      throw new IllegalArgumentException(where(number) + "not valid UTF-8 text");
    }
  }

  /** {@code file:N: } for the line last returned, to prefix a message about it. */
  public String where() {
    return where(number);
  }

  private String where(int lineNumber) {
    return file + ":" + lineNumber + ": ";
  }

  @Override
  public void close() {
    try {
      in.close();
    } catch (IOException e) {
      // Nothing was written: a failure to close a file read to its end loses nothing.
    }
  }
}
