package peacewatch.alerting;

import java.io.IOException;
import java.io.InputStream;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * The report contract, read from its JSON Schema - generated from the Python (pydantic) models at
 * build time, so the rules are written once. What this class adds is how pydantic reads each
 * type in strict mode from JSON, which a JSON Schema does not say: an integer is a JSON integer
 * (not 1.0, not true), a number is any JSON number (NaN and Infinity included, then bounded), a
 * literal matches by equality (1.0 and true are 1), a `uuid` is any form Python's uuid crate
 * reads, a `date-time` is read by {@link Times}; string lengths count code points and patterns
 * anchor at the very end. The first problem, in field order, is the one reported.
 */
final class Contract {
    /** A refusal: the field's path (dotted, list indexes included) and why. */
    static class Refused extends Exception {
        final String loc;

        Refused(String loc, String message) {
            super(loc.isEmpty() ? message : loc + ": " + message, null, false, false);
            this.loc = loc;
        }
    }

    /** Valid by every field rule, over the bound on a message's bytes (Python's ReportTooLarge). */
    static final class TooLarge extends Refused {
        TooLarge(long size, long most) {
            super("", "report too large: " + size + " bytes, the contract allows at most " + most);
        }
    }

    private final Map<String, Object> root;
    private final Map<String, Object> defs;
    private final Map<String, Pattern> patterns = new ConcurrentHashMap<>();
    private final Times.Time earliest;
    private final Times.Time latest;
    private final long maxBytes;

    @SuppressWarnings("unchecked")
    Contract(Map<String, Object> schema) {
        this.root = schema;
        this.defs = (Map<String, Object>) schema.getOrDefault("$defs", Map.of());
        Map<String, Object> ts = (Map<String, Object>) ((Map<String, Object>) schema.get("properties")).get("ts");
        try {
            this.earliest = Times.parse((String) ts.get("formatMinimum"));
            this.latest = Times.parse((String) ts.get("formatMaximum"));
        } catch (Times.BadTime | NullPointerException e) {
            throw new IllegalStateException("the contract schema gives no time bounds for ts", e);
        }
        if (!(schema.get("x-max-bytes") instanceof Json.Num most) || !most.integral()) {
            throw new IllegalStateException("the contract schema gives no bound on a report's bytes");
        }
        this.maxBytes = Long.parseLong(most.text());
    }

    /** The contract shipped in the jar (peacewatch/alerting/report.schema.json). */
    @SuppressWarnings("unchecked")
    static Contract bundled() {
        try (InputStream in = Contract.class.getResourceAsStream("report.schema.json")) {
            if (in == null) {
                throw new IllegalStateException("report.schema.json is missing from the jar");
            }
            return new Contract((Map<String, Object>) Json.parse(in.readAllBytes()));
        } catch (IOException | Json.Malformed e) {
            throw new IllegalStateException("unreadable report.schema.json: " + e.getMessage(), e);
        }
    }

    /** The uuid5 namespace of alert ids (Python's platform.contract.ALERT_ID_NAMESPACE). */
    String alertIdNamespace() {
        return (String) root.get("x-alert-id-namespace");
    }

    /** Bytes from the wire -> the report's fields (defaults applied), or Refused. */
    @SuppressWarnings("unchecked")
    Map<String, Object> validate(byte[] payload) throws Refused {
        Object doc;
        try {
            doc = Json.parse(payload);
        } catch (Json.Malformed e) {
            throw new Refused("", "not valid JSON: " + e.getMessage());
        }
        Map<String, Object> fields = (Map<String, Object>) check(root, doc, "");
        // After the field rules, as in Python: a report breaking one names that field whatever its size.
        if (payload.length > maxBytes) {
            throw new TooLarge(payload.length, maxBytes);
        }
        return fields;
    }

    @SuppressWarnings("unchecked")
    private Object check(Map<String, Object> node, Object value, String loc) throws Refused {
        Object ref = node.get("$ref");
        if (ref != null) {
            String name = ((String) ref).substring(((String) ref).lastIndexOf('/') + 1);
            return check((Map<String, Object>) defs.get(name), value, loc);
        }
        if (node.containsKey("const")) {
            return literal(node.get("const"), value, loc);
        }
        String type = (String) node.get("type");
        switch (type) {
            case "object":
                return object(node, value, loc);
            case "array":
                return array(node, value, loc);
            case "string":
                return string(node, value, loc);
            case "integer":
                return integer(node, value, loc);
            case "number":
                return number(node, value, loc);
            default:
                throw new IllegalStateException("the contract uses a type this reader does not know: " + type);
        }
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> object(Map<String, Object> node, Object value, String loc) throws Refused {
        if (!(value instanceof Map)) {
            throw new Refused(loc, "Input should be an object");
        }
        Map<String, Object> in = (Map<String, Object>) value;
        Map<String, Object> properties = (Map<String, Object>) node.get("properties");
        List<Object> required = (List<Object>) node.getOrDefault("required", List.of());
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> field : properties.entrySet()) {
            String name = field.getKey();
            Map<String, Object> schema = (Map<String, Object>) field.getValue();
            String at = loc.isEmpty() ? name : loc + "." + name;
            if (in.containsKey(name)) {
                out.put(name, check(schema, in.get(name), at));
            } else if (required.contains(name)) {
                throw new Refused(at, "Field required");
            } else {
                Object fallback = schema.get("default");
                if (fallback == null) {
                    throw new IllegalStateException("the contract schema gives no default for " + at);
                }
                out.put(name, check(schema, fallback, at));
            }
        }
        if (Boolean.FALSE.equals(node.get("additionalProperties"))) {
            for (String key : in.keySet()) {
                if (!properties.containsKey(key)) {
                    throw new Refused(loc.isEmpty() ? key : loc + "." + key, "Extra inputs are not permitted");
                }
            }
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    private List<Object> array(Map<String, Object> node, Object value, String loc) throws Refused {
        if (!(value instanceof List)) {
            throw new Refused(loc, "Input should be a valid array");
        }
        List<Object> in = (List<Object>) value;
        Object most = node.get("maxItems");
        if (most != null && in.size() > bound(most).intValue()) {
            throw new Refused(loc, "List should have at most " + bound(most) + " items");
        }
        Map<String, Object> items = (Map<String, Object>) node.get("items");
        List<Object> out = new ArrayList<>(in.size());
        for (int i = 0; i < in.size(); i++) {
            out.add(check(items, in.get(i), loc + "." + i));
        }
        return out;
    }

    private Object string(Map<String, Object> node, Object value, String loc) throws Refused {
        if (!(value instanceof String)) {
            throw new Refused(loc, "Input should be a valid string");
        }
        String s = (String) value;
        Object format = node.get("format");
        if ("uuid".equals(format)) {
            String uuid = Uuids.canonical(s);
            if (uuid == null) {
                throw new Refused(loc, "Input should be a valid UUID");
            }
            return uuid;
        }
        if ("date-time".equals(format)) {
            Times.Time t;
            try {
                t = Times.parse(s);
            } catch (Times.BadTime e) {
                throw new Refused(loc, "Input should be a valid datetime, " + e.getMessage());
            }
            if (Times.compare(t, earliest) < 0 || Times.compare(t, latest) > 0) {
                throw new Refused(loc, "Input should be within the contract's time range");
            }
            return t;
        }
        int length = s.codePointCount(0, s.length());
        Object min = node.get("minLength");
        Object max = node.get("maxLength");
        if (min != null && length < bound(min).intValue()) {
            throw new Refused(loc, "String should have at least " + bound(min) + " characters");
        }
        if (max != null && length > bound(max).intValue()) {
            throw new Refused(loc, "String should have at most " + bound(max) + " characters");
        }
        Object pattern = node.get("pattern");
        if (pattern != null && !patterns.computeIfAbsent((String) pattern, Contract::compile).matcher(s).find()) {
            throw new Refused(loc, "String should match pattern '" + pattern + "'");
        }
        return s;
    }

    /** Rust's regex: `$` is the very end (Java's `$` also matches before a final newline). */
    private static Pattern compile(String pattern) {
        String p = pattern.endsWith("$") && !pattern.endsWith("\\$")
                ? pattern.substring(0, pattern.length() - 1) + "\\z" : pattern;
        return Pattern.compile(p);
    }

    private Object integer(Map<String, Object> node, Object value, String loc) throws Refused {
        if (!(value instanceof Json.Num) || !((Json.Num) value).integral()) {
            throw new Refused(loc, "Input should be a valid integer");
        }
        BigInteger v = new BigInteger(((Json.Num) value).text());
        BigDecimal d = new BigDecimal(v);
        checkBounds(node, d, loc);
        return v.bitLength() < 64 ? (Object) v.longValue() : v;
    }

    private Object number(Map<String, Object> node, Object value, String loc) throws Refused {
        if (!(value instanceof Json.Num)) {
            throw new Refused(loc, "Input should be a valid number");
        }
        double v = toDouble((Json.Num) value);
        Object min = node.get("minimum");
        Object max = node.get("maximum");
        if (min != null && !(v >= bound(min).doubleValue())) {
            throw new Refused(loc, "Input should be greater than or equal to " + bound(min));
        }
        if (max != null && !(v <= bound(max).doubleValue())) {
            throw new Refused(loc, "Input should be less than or equal to " + bound(max));
        }
        return v;
    }

    private static double toDouble(Json.Num n) {
        // An integer goes to the nearest double, as Python's int -> float (jiter reads -0 as 0).
        return n.integral() ? new BigDecimal(n.text()).doubleValue() + 0.0 : Double.parseDouble(n.text());
    }

    private void checkBounds(Map<String, Object> node, BigDecimal v, String loc) throws Refused {
        Object min = node.get("minimum");
        Object max = node.get("maximum");
        if (min != null && v.compareTo(bound(min)) < 0) {
            throw new Refused(loc, "Input should be greater than or equal to " + bound(min));
        }
        if (max != null && v.compareTo(bound(max)) > 0) {
            throw new Refused(loc, "Input should be less than or equal to " + bound(max));
        }
    }

    /** A literal matches by equality, as Python compares: 1 == 1.0 == True. */
    private static Object literal(Object wanted, Object value, String loc) throws Refused {
        BigDecimal want = bound(wanted);
        BigDecimal got = null;
        if (value instanceof Json.Num n) {
            double d = toDouble(n);
            got = n.integral() ? new BigDecimal(n.text()) : (Double.isFinite(d) ? new BigDecimal(d) : null);
        } else if (value instanceof Boolean b) {
            got = b ? BigDecimal.ONE : BigDecimal.ZERO;
        }
        if (got == null || got.compareTo(want) != 0) {
            throw new Refused(loc, "Input should be " + wanted);
        }
        return want.longValueExact();
    }

    private static BigDecimal bound(Object schemaNumber) {
        return new BigDecimal(((Json.Num) schemaNumber).text());
    }
}
