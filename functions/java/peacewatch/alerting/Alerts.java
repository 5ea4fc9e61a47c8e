package peacewatch.alerting;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/** Which citizens of a report raise an alert, and the alert's forms (JSON, the officers' log line). Pure. */
final class Alerts {
    record Alert(String alertId, String tenant, String reportId, String droneId, Times.Time ts, double lat,
            double lon, String citizenId, String name, long peacescore, long threshold, Times.Time raisedAt) {}

    private static final JsonFactory JSON = new JsonFactory();

    private Alerts() {}

    /** Citizens scoring below the threshold, once each (a citizen listed twice alerts once). */
    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> badCitizens(Map<String, Object> report, long threshold) {
        Set<String> seen = new HashSet<>();
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object c : (List<Object>) report.get("citizens")) {
            Map<String, Object> citizen = (Map<String, Object>) c;
            if (((Number) citizen.get("peacescore")).longValue() < threshold && seen.add((String) citizen.get("citizen_id"))) {
                out.add(citizen);
            }
        }
        return out;
    }

    static Alert build(Map<String, Object> report, Map<String, Object> citizen, UUID namespace, String tenant,
            long threshold, Times.Time raisedAt) {
        String reportId = (String) report.get("report_id");
        String citizenId = (String) citizen.get("citizen_id");
        return new Alert(Uuids.uuid5(namespace, reportId + "/" + citizenId), tenant, reportId,
                (String) report.get("drone_id"), (Times.Time) report.get("ts"), (Double) report.get("lat"),
                (Double) report.get("lon"), citizenId, (String) citizen.get("name"),
                ((Number) citizen.get("peacescore")).longValue(), threshold, raisedAt);
    }

    /** The alert as the contract's JSON (the fields of the Python Alert model, in its order). */
    static byte[] json(Alert a) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(512);
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            g.writeNumberField("schema_version", 1);
            g.writeStringField("alert_id", a.alertId());
            g.writeStringField("tenant", a.tenant());
            g.writeStringField("report_id", a.reportId());
            g.writeStringField("drone_id", a.droneId());
            g.writeStringField("ts", a.ts().json());
            g.writeNumberField("lat", a.lat());
            g.writeNumberField("lon", a.lon());
            g.writeStringField("citizen_id", a.citizenId());
            g.writeStringField("name", a.name());
            g.writeNumberField("peacescore", a.peacescore());
            g.writeNumberField("threshold", a.threshold());
            g.writeStringField("raised_at", a.raisedAt().json());
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** The officers' line, as functions/alert_log.py's format_alert_line writes it. */
    static String logLine(Alert a) {
        return "ALERT tenant=" + a.tenant() + " drone=" + a.droneId() + " lat=" + fixed5(a.lat()) + " lon="
                + fixed5(a.lon()) + " citizen=" + jsonAscii(a.name()) + " citizen_id=" + a.citizenId()
                + " peacescore=" + a.peacescore() + " threshold=" + a.threshold() + " ts=" + a.ts().isoformat()
                + " alert_id=" + a.alertId();
    }

    /** Python's f"{x:.5f}": the exact binary value rounded half-even, the sign of -0.0 kept. */
    static String fixed5(double x) {
        String s = new BigDecimal(x).setScale(5, RoundingMode.HALF_EVEN).toPlainString();
        return (Double.doubleToRawLongBits(x) < 0 && !s.startsWith("-")) ? "-" + s : s;
    }

    /** Python's json.dumps(text): ASCII only, \\uXXXX escapes (UTF-16 units), short forms where JSON has them. */
    static String jsonAscii(String text) {
        StringBuilder b = new StringBuilder(text.length() + 2).append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case '\b' -> b.append("\\b");
                case '\f' -> b.append("\\f");
                default -> {
                    if (c < 0x20 || c > 0x7e) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
