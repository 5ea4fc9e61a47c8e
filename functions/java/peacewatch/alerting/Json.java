package peacewatch.alerting;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * JSON text -> a plain tree (Map, List, String, Num, Boolean, NULL), read the way the Python
 * contract's parser (pydantic's jiter) reads it: NaN and +-Infinity are numbers, a repeated key
 * keeps its first place and its last value, lone surrogates are not text, nothing may follow.
 */
final class Json {
    /** A number as written: integral or not, and its text (kept exact until a rule needs it). */
    record Num(boolean integral, String text) {}

    /** JSON null: a value, unlike a missing key. */
    static final Object NULL = new Object() {
        @Override
        public String toString() {
            return "None";
        }
    };

    static final class Malformed extends Exception {
        Malformed(String message) {
            super(message, null, false, false);
        }
    }

    private static final JsonFactory FACTORY = JsonFactory.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            // Long numbers are read (and then refused by a bound), as the Python side does.
            .streamReadConstraints(StreamReadConstraints.builder().maxNumberLength(1_000_000).build())
            .build();

    // Strict (malformed input is an error, not U+FFFD); decode() resets it, so one per thread serves all.
    private static final ThreadLocal<CharsetDecoder> UTF8 = ThreadLocal.withInitial(
            () -> StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT));

    private Json() {}

    static Object parse(byte[] data) throws Malformed {
        // UTF-8 only, as the contract says: Jackson on bytes would guess UTF-16/32 and skip a BOM.
        CharBuffer chars;
        try {
            chars = UTF8.get().decode(ByteBuffer.wrap(data));
        } catch (CharacterCodingException e) {
            throw new Malformed("invalid UTF-8");
        }
        if (chars.length() > 0 && chars.charAt(0) == '\uFEFF') {
            throw new Malformed("expected value at line 1 column 1");
        }
        try (JsonParser parser = FACTORY.createParser(chars.array(), chars.arrayOffset(), chars.limit())) {
            JsonToken token = parser.nextToken();
            if (token == null) {
                throw new Malformed("EOF while parsing a value");
            }
            Object value = value(parser, token);
            if (parser.nextToken() != null) {
                throw new Malformed("trailing characters");
            }
            return value;
        } catch (JsonProcessingException e) {
            throw new Malformed(e.getOriginalMessage());
        } catch (IOException e) {
            throw new Malformed(String.valueOf(e.getMessage()));
        }
    }

    private static Object value(JsonParser parser, JsonToken token) throws IOException, Malformed {
        switch (token) {
            case START_OBJECT: {
                Map<String, Object> out = new LinkedHashMap<>();
                for (JsonToken t = parser.nextToken(); t != JsonToken.END_OBJECT; t = parser.nextToken()) {
                    String key = text(parser.currentName());
                    out.put(key, value(parser, parser.nextToken()));
                }
                return out;
            }
            case START_ARRAY: {
                List<Object> out = new ArrayList<>();
                for (JsonToken t = parser.nextToken(); t != JsonToken.END_ARRAY; t = parser.nextToken()) {
                    out.add(value(parser, t));
                }
                return out;
            }
            case VALUE_STRING:
                return text(parser.getText());
            case VALUE_NUMBER_INT:
                return new Num(true, parser.getText());
            case VALUE_NUMBER_FLOAT: {
                String text = parser.getText();
                if (parser.isNaN() && !(text.equals("NaN") || text.equals("Infinity") || text.equals("-Infinity"))) {
                    throw new Malformed("invalid number " + text); // Jackson's other spellings (+INF, ...)
                }
                return new Num(false, text);
            }
            case VALUE_TRUE:
                return Boolean.TRUE;
            case VALUE_FALSE:
                return Boolean.FALSE;
            case VALUE_NULL:
                return NULL;
            default:
                throw new Malformed("unexpected " + token);
        }
    }

    /** Strings must be Unicode text: an escaped lone surrogate is refused, as in Python. */
    private static String text(String s) throws Malformed {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                    i++;
                    continue;
                }
                throw new Malformed("lone surrogate in a string");
            }
            if (Character.isLowSurrogate(c)) {
                throw new Malformed("lone surrogate in a string");
            }
        }
        return s;
    }
}
