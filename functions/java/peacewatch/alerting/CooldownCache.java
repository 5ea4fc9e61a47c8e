package peacewatch.alerting;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * What an instance knows of citizens' last alerts: functions/cooldown_cache.py's rules, the same
 * answers. Alerts persisted here and alerts in flight suppress inside the window; otherwise the
 * state store's value decides, answered from a mirror of it (set by every read and every write of
 * this instance) while the function runs a single instance - the store's sole writer - and read
 * from the store otherwise. Bounded (least recently used citizens are read through again).
 */
final class CooldownCache {
    static final int DEFAULT_CAPACITY = 100_000;
    private static final double ABSENT = Double.NEGATIVE_INFINITY; // the store holds nothing

    private final boolean soleWriter;
    private final Map<String, Double> persisted;
    private final Map<String, Double> state;
    private final Map<String, Double> inFlight = new HashMap<>();
    private long reads;

    CooldownCache(boolean soleWriter, int capacity) {
        this.soleWriter = soleWriter;
        this.persisted = lru(capacity);
        this.state = lru(capacity);
    }

    private static Map<String, Double> lru(int capacity) {
        return new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Double> eldest) {
                return size() > capacity;
            }
        };
    }

    /** The last alert time the cooldown compares against; `read` asks the store (and may throw). */
    Double lastAlertTs(String citizenId, double eventTs, double cooldownS, Function<String, Double> read) {
        Double mine;
        Double flying;
        Double mirrored;
        synchronized (this) {
            mine = persisted.get(citizenId);
            flying = inFlight.get(citizenId);
            mirrored = soleWriter ? state.get(citizenId) : null;
        }
        for (Double known : new Double[] {mine, flying}) {
            if (known != null && Math.abs(eventTs - known) < cooldownS) {
                return known;
            }
        }
        if (mirrored != null) {
            return mirrored == ABSENT ? null : mirrored;
        }
        Double value = read.apply(citizenId);
        synchronized (this) {
            reads++;
            // A write that landed while we read is newer than what we read: keep the write.
            if (soleWriter && state.get(citizenId) == null) {
                state.put(citizenId, value == null ? ABSENT : value);
            }
        }
        return value;
    }

    synchronized void sending(String citizenId, double ts) {
        inFlight.put(citizenId, ts);
    }

    synchronized void forget(String citizenId, double ts) {
        inFlight.remove(citizenId, ts);
    }

    /** The alert is stored; `written`: its time is now the store's value for the citizen. */
    synchronized void persisted(String citizenId, double ts, boolean written) {
        persisted.merge(citizenId, ts, Math::max);
        if (written) {
            state.put(citizenId, ts);
        } else {
            state.remove(citizenId);
        }
    }

    synchronized long reads() {
        return reads;
    }
}
