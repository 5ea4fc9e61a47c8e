package peacewatch.alerting;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.StreamWriteFeature;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The shared test vectors' runner for this implementation: one JSON line per case on stdin
 * ({"payload_b64", "threshold", "tenant"}), one line per answer on stdout - the validated report
 * (or the refusal's field and reason) and the alerts with their log lines. No Pulsar involved:
 * the Python tests compare these answers with the Python implementation's.
 */
public final class VectorCheck {
    private VectorCheck() {}

    public static void main(String[] args) throws IOException {
        Contract contract = Contract.bundled();
        UUID namespace = UUID.fromString(contract.alertIdNamespace());
        JsonFactory factory = JsonFactory.builder().disable(StreamWriteFeature.AUTO_CLOSE_TARGET).build();
        Times.Time raisedAt = new Times.Time(0, 0, 0);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        Writer out = new OutputStreamWriter(System.out, StandardCharsets.UTF_8);
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            @SuppressWarnings("unchecked")
            Map<String, Object> job;
            try {
                job = (Map<String, Object>) Json.parse(line.getBytes(StandardCharsets.UTF_8));
            } catch (Json.Malformed e) {
                throw new IOException("bad vector line: " + e.getMessage());
            }
            byte[] payload = Base64.getDecoder().decode((String) job.get("payload_b64"));
            long threshold = Long.parseLong(((Json.Num) job.get("threshold")).text());
            String tenant = (String) job.get("tenant");
            try (JsonGenerator g = factory.createGenerator(out)) {
                g.writeStartObject();
                try {
                    Map<String, Object> report = contract.validate(payload);
                    g.writeBooleanField("ok", true);
                    g.writeFieldName("report");
                    write(g, report);
                    g.writeArrayFieldStart("alerts");
                    for (Map<String, Object> citizen : Alerts.badCitizens(report, threshold)) {
                        Alerts.Alert alert = Alerts.build(report, citizen, namespace, tenant, threshold, raisedAt);
                        g.writeStartObject();
                        g.writeStringField("json", new String(Alerts.json(alert), StandardCharsets.UTF_8));
                        g.writeStringField("log", Alerts.logLine(alert));
                        g.writeEndObject();
                    }
                    g.writeEndArray();
                } catch (Contract.Refused e) {
                    g.writeBooleanField("ok", false);
                    g.writeStringField("loc", e.loc);
                    g.writeStringField("reason", e.getMessage());
                    if (e instanceof Contract.TooLarge) {
                        g.writeBooleanField("too_large", true);
                    }
                }
                g.writeEndObject();
            }
            out.write('\n');
        }
        out.flush();
    }

    @SuppressWarnings("unchecked")
    private static void write(JsonGenerator g, Object v) throws IOException {
        if (v instanceof Map<?, ?> m) {
            g.writeStartObject();
            for (Map.Entry<String, Object> e : ((Map<String, Object>) m).entrySet()) {
                g.writeFieldName(e.getKey());
                write(g, e.getValue());
            }
            g.writeEndObject();
        } else if (v instanceof List<?> list) {
            g.writeStartArray();
            for (Object item : list) {
                write(g, item);
            }
            g.writeEndArray();
        } else if (v instanceof Times.Time t) {
            g.writeStartObject();
            g.writeNumberField("epoch_s", t.epochSecond());
            g.writeNumberField("micros", t.micros());
            g.writeNumberField("offset_s", t.offsetSeconds());
            g.writeEndObject();
        } else if (v instanceof Double d) {
            g.writeString(Double.toString(d)); // exact round trip, NaN-free by then
        } else if (v instanceof Long l) {
            g.writeNumber(l);
        } else if (v instanceof BigInteger b) {
            g.writeNumber(b);
        } else {
            g.writeString(String.valueOf(v));
        }
    }
}
