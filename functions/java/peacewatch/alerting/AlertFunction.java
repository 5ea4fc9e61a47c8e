package peacewatch.alerting;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pulsar.client.api.CompressionType;
import org.apache.pulsar.client.api.Message;
import org.apache.pulsar.client.api.MessageId;
import org.apache.pulsar.client.api.Producer;
import org.apache.pulsar.client.api.PulsarClient;
import org.apache.pulsar.client.api.PulsarClientException;
import org.apache.pulsar.client.api.Schema;
import org.apache.pulsar.client.api.TypedMessageBuilder;
import org.apache.pulsar.functions.api.Context;
import org.apache.pulsar.functions.api.Function;
import org.apache.pulsar.functions.api.Record;

/**
 * The alert function for Pulsar's Java runtime: the same contract, decision, topics, properties,
 * dead-letter entries, log lines and cooldown state as functions/alerting.py, so a force can run
 * either (`alerting.runtime` in its spec). The shared test vectors hold both to the same answers.
 *
 * Runs with processingGuarantees=MANUAL and retainOrdering: a report is acknowledged only once
 * every message it caused is persisted (and the cooldown state written); a failed publish fails
 * the record, which the runtime redelivers. Nothing a producer sends makes process() throw: bad
 * input goes to the dead-letter queue with the reason, once per message (broker deduplication on
 * the producer name and a sequence id taken from the report's position).
 */
public class AlertFunction implements Function<byte[], Void> {
    static final String COOLDOWN_STATE_PREFIX = "cooldown/";
    static final String REPORT_PUBLISHED_PROPERTY = "report_published_ms";
    static final String STAGE = "alerting";
    private static final long METRICS_EVERY_MS = 1000;
    private static final int STATE_WRITE_ATTEMPTS = 5;
    private static final DateTimeFormatter LOG_TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss Z");

    /** The state store could not be read: the report is failed (redelivered), not dead-lettered. */
    static final class StateUnavailable extends RuntimeException {
        StateUnavailable(Throwable cause) {
            super(cause);
        }
    }

    private Contract contract;
    private UUID namespace;
    private String tenant;
    private long threshold;
    private double cooldownS;
    private String sourceId;
    private PulsarClient client;
    private String dlqTopic;
    private Producer<byte[]> alerts;
    private Producer<byte[]> log;
    private final Map<String, Producer<byte[]>> deadLetters = new ConcurrentHashMap<>();
    // Cooldown: what this instance knows of citizens' alerts (event seconds); set up in initialize.
    private CooldownCache known = new CooldownCache(false, CooldownCache.DEFAULT_CAPACITY);
    // State writes after persistence: off the client's I/O threads.
    private final ExecutorService after = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "alerting-after-persist");
        t.setDaemon(true);
        return t;
    });
    // Counts summed here and recorded once a second by this thread (a recordMetric per report
    // costs more than the report), also when reports stop: the last second's counts get out.
    private final Map<String, AtomicLong> counts = new ConcurrentHashMap<>();
    private final ScheduledExecutorService metrics = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "alerting-metrics");
        t.setDaemon(true);
        return t;
    });

    @Override
    public void initialize(Context context) throws Exception {
        contract = Contract.bundled();
        namespace = UUID.fromString(contract.alertIdNamespace());
        tenant = context.getTenant();
        threshold = ((Number) number(context.getUserConfigValueOrDefault("threshold", 20))).longValue();
        cooldownS = ((Number) number(context.getUserConfigValueOrDefault("cooldown_s", 0.0))).doubleValue();
        Object source = context.getUserConfigValueOrDefault("source_id", "unknown");
        sourceId = source == null ? "unknown" : source.toString();
        String prefix = "persistent://" + tenant + "/" + context.getNamespace() + "/";
        dlqTopic = prefix + "reports-dlq";
        client = context.getPulsarClient();
        known = new CooldownCache(context.getNumInstances() == 1, CooldownCache.DEFAULT_CAPACITY);
        metrics.scheduleAtFixedRate(() -> {
            try {
                flushCounts(context);
            } catch (RuntimeException e) { // a failed run would cancel the ones after it
                logLine("recording metrics failed: " + e, "ERROR");
            }
        }, METRICS_EVERY_MS, METRICS_EVERY_MS, TimeUnit.MILLISECONDS);
        alerts = client.newProducer(Schema.AUTO_PRODUCE_BYTES()) // declares (and checks) the topic's contract schema
                .topic(prefix + "alerts")
                .enableBatching(false) // an alert leaves at once
                .blockIfQueueFull(true)
                .create();
        log = client.newProducer(Schema.BYTES)
                .topic(prefix + "alert-log")
                .enableBatching(true)
                .batchingMaxPublishDelay(5, TimeUnit.MILLISECONDS)
                .compressionType(CompressionType.NONE)
                .blockIfQueueFull(true)
                .create();
    }

    private static Object number(Object value) {
        return value instanceof String s ? Double.valueOf(s) : value;
    }

    @Override
    public void close() throws Exception {
        metrics.shutdown();
        after.shutdown();
        for (Producer<byte[]> p : deadLetters.values()) {
            p.closeAsync();
        }
        if (alerts != null) {
            alerts.closeAsync();
        }
        if (log != null) {
            log.flushAsync();
        }
    }

    @Override
    public Void process(byte[] input, Context context) {
        Record<?> record = context.getCurrentRecord();
        Map<String, Object> report;
        try {
            report = contract.validate(input);
        } catch (Contract.Refused e) {
            deadLetter(context, record, input, e.getMessage());
            return null;
        } catch (RuntimeException e) {
            deadLetter(context, record, input, "internal error: " + e);
            return null;
        }
        try {
            alert(context, record, report);
        } catch (StateUnavailable e) {
            record.fail(); // the state store is away: the report comes back, nothing is lost
        } catch (RuntimeException e) {
            // A bug of ours must not become a report redelivered forever: to the DLQ, for a human.
            logLine("internal error on report " + record.getMessage().map(Message::getMessageId).orElse(null)
                    + ": " + e, "ERROR");
            deadLetter(context, record, input, "internal error: " + e);
        }
        return null;
    }

    private void count(Context context, String name, long n) {
        counts.computeIfAbsent(name, k -> new AtomicLong()).addAndGet(n);
    }

    private void flushCounts(Context context) {
        for (Map.Entry<String, AtomicLong> e : counts.entrySet()) {
            long n = e.getValue().getAndSet(0);
            if (n > 0) {
                context.recordMetric(e.getKey(), n);
            }
        }
    }

    private void alert(Context context, Record<?> record, Map<String, Object> report) {
        count(context, "reports", 1);
        List<Map<String, Object>> bad = Alerts.badCitizens(report, threshold);
        if (bad.isEmpty()) {
            record.ack();
            return;
        }
        Times.Time ts = (Times.Time) report.get("ts");
        double eventTs = ts.timestamp();
        Instant now = Instant.now();
        Times.Time raisedAt = new Times.Time(now.getEpochSecond(), now.getNano() / 1000, 0);
        List<Alerts.Alert> raised = new ArrayList<>();
        for (Map<String, Object> citizen : bad) {
            if (cooldownS > 0) {
                Double last = lastAlertTs(context, (String) citizen.get("citizen_id"), eventTs);
                if (last != null && Math.abs(eventTs - last) < cooldownS) {
                    continue;
                }
            }
            raised.add(Alerts.build(report, citizen, namespace, tenant, threshold, raisedAt));
        }
        if (raised.isEmpty()) {
            record.ack();
            return;
        }
        publish(context, record, raised);
        count(context, "alerts", raised.size());
    }

    private Double lastAlertTs(Context context, String citizenId, double eventTs) {
        return known.lastAlertTs(citizenId, eventTs, cooldownS, key -> readState(context, key));
    }

    private Double readState(Context context, String citizenId) {
        count(context, "cooldown_state_reads", 1);
        ByteBuffer value;
        try {
            value = context.getState(COOLDOWN_STATE_PREFIX + citizenId);
        } catch (RuntimeException e) {
            throw new StateUnavailable(e);
        }
        if (value == null || !value.hasRemaining()) {
            return null;
        }
        try {
            return Double.valueOf(StandardCharsets.UTF_8.decode(value.duplicate()).toString());
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private void publish(Context context, Record<?> record, List<Alerts.Alert> raised) {
        boolean cooldown = cooldownS > 0;
        if (cooldown) {
            for (Alerts.Alert a : raised) {
                known.sending(a.citizenId(), a.ts().timestamp());
            }
        }
        long publishedMs = record.getMessage().map(Message::getPublishTime).orElse(0L);
        String published = publishedMs > 0 ? Long.toString(publishedMs) : "";
        AtomicInteger left = new AtomicInteger(raised.size());
        AtomicBoolean ok = new AtomicBoolean(true);
        for (Alerts.Alert a : raised) {
            Map<String, String> properties = new HashMap<>();
            properties.put("alert_id", a.alertId());
            properties.put("report_id", a.reportId());
            properties.put(REPORT_PUBLISHED_PROPERTY, published);
            TypedMessageBuilder<byte[]> message = alerts.newMessage()
                    .value(Alerts.json(a))
                    .key(a.citizenId())
                    .properties(properties);
            long eventMs = a.ts().epochSecond() * 1000 + a.ts().micros() / 1000;
            if (eventMs > 0) { // unsigned on the wire: nothing before 1970
                message.eventTime(eventMs);
            }
            message.sendAsync().whenComplete((id, error) -> {
                if (error == null) {
                    logLine(Alerts.logLine(a), "WARNING"); // the officers' line, once the alert is stored
                    if (publishedMs > 0) { // report published -> alert stored, for the operators' dashboard
                        context.recordMetric("alert_delay_ms", System.currentTimeMillis() - publishedMs);
                    }
                } else {
                    ok.set(false);
                }
                if (left.decrementAndGet() == 0) {
                    persistedAll(record, raised, ok.get(), cooldown, context);
                }
            });
        }
    }

    private void persistedAll(Record<?> record, List<Alerts.Alert> raised, boolean ok, boolean cooldown,
            Context context) {
        if (!ok) {
            forget(raised);
            logLine("alert publish failed for report " + record.getMessage().map(Message::getMessageId).orElse(null)
                    + "; it will be redelivered", "ERROR");
            record.fail();
            return;
        }
        if (!cooldown) {
            record.ack();
            return;
        }
        after.execute(() -> {
            for (Alerts.Alert a : raised) {
                known.persisted(a.citizenId(), a.ts().timestamp(), writeState(context, a));
            }
            forget(raised);
            record.ack();
        });
    }

    /** Whether the store now holds this alert's time. */
    private boolean writeState(Context context, Alerts.Alert a) {
        ByteBuffer value = ByteBuffer.wrap(Double.toString(a.ts().timestamp()).getBytes(StandardCharsets.UTF_8));
        for (int attempt = 1; attempt <= STATE_WRITE_ATTEMPTS; attempt++) {
            try {
                long started = System.nanoTime();
                context.putState(COOLDOWN_STATE_PREFIX + a.citizenId(), value.duplicate());
                // What the acknowledgement waits for per alert (bench/alert_cooldown_cost.py).
                context.recordMetric("cooldown_state_write_ms", (System.nanoTime() - started) / 1e6);
                return true;
            } catch (RuntimeException e) {
                if (attempt == STATE_WRITE_ATTEMPTS) {
                    // The alert is stored: acknowledge anyway, at worst a repeat alert later.
                    logLine("cooldown state write failed (" + e + ") for " + a.alertId(), "ERROR");
                    return false;
                }
                try {
                    Thread.sleep(200L * attempt);
                } catch (InterruptedException stop) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
        }
        return false;
    }

    private void forget(List<Alerts.Alert> raised) {
        for (Alerts.Alert a : raised) {
            known.forget(a.citizenId(), a.ts().timestamp());
        }
    }

    private void logLine(String message, String level) {
        if (log != null) {
            String stamp = LOG_TIME.format(Instant.now().atZone(ZoneId.systemDefault()));
            log.sendAsync(("[" + stamp + "] [" + level + "]: " + message).getBytes(StandardCharsets.UTF_8));
        }
    }

    // -- the dead-letter queue (platform/dead_letters.py's entries) -----------------------------

    private void deadLetter(Context context, Record<?> record, byte[] payload, String reason) {
        count(context, "invalid", 1);
        try {
            Message<?> message = record.getMessage().orElseThrow();
            long[] id = Positions.parts(message.getMessageId());
            String topic = record.getTopicName().orElse(message.getTopicName());
            Map<String, String> properties = new HashMap<>();
            properties.put("error", Positions.firstCodePoints(reason, 1000));
            properties.put("source_topic", topic);
            properties.put("source_message_id", "(" + id[0] + "," + id[1] + "," + id[2] + "," + id[3] + ")");
            properties.put("stage", STAGE);
            deadLetterProducer(topic).newMessage()
                    .value(payload)
                    .properties(properties)
                    .sequenceId(Positions.encode(id[0], id[1], id[3]))
                    .sendAsync()
                    .whenComplete((sent, error) -> {
                        if (error == null) {
                            record.ack();
                        } else {
                            record.fail();
                        }
                    });
        } catch (PulsarClientException | RuntimeException e) {
            record.fail(); // no DLQ producer right now: the report comes back later
        }
    }

    private Producer<byte[]> deadLetterProducer(String sourceTopic) throws PulsarClientException {
        Producer<byte[]> producer = deadLetters.get(sourceTopic);
        if (producer != null) {
            return producer;
        }
        String name = STAGE + ":" + sourceId.substring(0, Math.min(8, sourceId.length())) + ":"
                + sourceTopic.substring(sourceTopic.lastIndexOf('/') + 1);
        long deadline = System.currentTimeMillis() + 30_000;
        while (true) {
            try {
                producer = client.newProducer(Schema.BYTES)
                        .topic(dlqTopic)
                        .producerName(name)
                        .enableBatching(false) // rare messages; one entry, one sequence id
                        .blockIfQueueFull(true)
                        .create();
                deadLetters.put(sourceTopic, producer);
                return producer;
            } catch (PulsarClientException.ProducerBusyException busy) {
                // Another process may still hold this name for a moment (the partition just moved here).
                if (System.currentTimeMillis() > deadline) {
                    throw busy;
                }
                try {
                    Thread.sleep(200);
                } catch (InterruptedException stop) {
                    Thread.currentThread().interrupt();
                    throw busy;
                }
            }
        }
    }

    /** Message positions as platform/positions.py encodes them. */
    static final class Positions {
        private Positions() {}

        /** (ledger, entry, partition, batch index) of a message id, from its text form. */
        static long[] parts(MessageId id) {
            String[] p = id.toString().split(":");
            long batch = p.length > 3 ? Long.parseLong(p[3]) : -1;
            return new long[] {Long.parseLong(p[0]), Long.parseLong(p[1]), Long.parseLong(p[2]), batch};
        }

        static long encode(long ledger, long entry, long batch) {
            long b = Math.max(batch, 0);
            if (ledger < 0 || ledger >= 1L << 31 || entry < 0 || entry >= 1L << 20 || b >= 1L << 12) {
                throw new IllegalArgumentException("message position (" + ledger + ", " + entry + ", " + batch
                        + ") does not fit the 63-bit encoding");
            }
            return (ledger << 32) | (entry << 12) | b;
        }

        static String firstCodePoints(String s, int n) {
            return s.codePointCount(0, s.length()) <= n ? s : s.substring(0, s.offsetByCodePoints(0, n));
        }
    }
}
