package peacewatch.alerting;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;

/**
 * Times as the Python contract reads them (pydantic's speedate, strict, from JSON text): RFC 3339
 * with a `T`, `t`, `_` or space between date and time, optional seconds and fraction (`.` or `,`,
 * digits past the sixth dropped), an offset `Z`/`z`/`+HH:MM`/`+HHMM` below 24 hours - or a number
 * of seconds since the epoch (milliseconds past 2e10), read as UTC.
 */
final class Times {
    /** An instant and the offset it was sent with (Java's ZoneOffset stops at 18 h; the contract does not). */
    record Time(long epochSecond, int micros, int offsetSeconds) {
        double timestamp() {
            return epochSecond + micros / 1e6;
        }

        /** Python's datetime.isoformat(): 2026-11-02T08:30:00+00:00, microseconds only when set. */
        String isoformat() {
            return local() + offsetText(true);
        }

        /** The form pydantic serialises: as isoformat, but UTC is Z. */
        String json() {
            return local() + (offsetSeconds == 0 ? "Z" : offsetText(true));
        }

        private String local() {
            LocalDateTime t = LocalDateTime.ofEpochSecond(epochSecond + offsetSeconds, 0, ZoneOffset.UTC);
            String out = String.format("%04d-%02d-%02dT%02d:%02d:%02d", t.getYear(), t.getMonthValue(),
                    t.getDayOfMonth(), t.getHour(), t.getMinute(), t.getSecond());
            return micros == 0 ? out : out + String.format(".%06d", micros);
        }

        private String offsetText(boolean colon) {
            int abs = Math.abs(offsetSeconds);
            return String.format("%s%02d%s%02d", offsetSeconds < 0 ? "-" : "+", abs / 3600, colon ? ":" : "", abs / 60 % 60);
        }
    }

    static final class BadTime extends Exception {
        BadTime(String message) {
            super(message, null, false, false);
        }
    }

    private static final long MS_WATERSHED = 20_000_000_000L;

    private Times() {}

    static Time parse(String s) throws BadTime {
        try {
            return rfc3339(s);
        } catch (BadTime dateError) {
            Time number = number(s);
            if (number == null) {
                throw dateError;
            }
            return number;
        }
    }

    private static int digits(String s, int at, int n, String what) throws BadTime {
        if (s.length() < at + n) {
            throw new BadTime("input is too short");
        }
        int v = 0;
        for (int i = at; i < at + n; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                throw new BadTime("invalid character in " + what);
            }
            v = v * 10 + (c - '0');
        }
        return v;
    }

    private static void expect(String s, int at, String chars, String what) throws BadTime {
        if (s.length() <= at) {
            throw new BadTime("input is too short");
        }
        if (chars.indexOf(s.charAt(at)) < 0) {
            throw new BadTime("invalid " + what);
        }
    }

    private static Time rfc3339(String s) throws BadTime {
        int year = digits(s, 0, 4, "year");
        expect(s, 4, "-", "date separator");
        int month = digits(s, 5, 2, "month");
        expect(s, 7, "-", "date separator");
        int day = digits(s, 8, 2, "day");
        expect(s, 10, "Tt_ ", "datetime separator");
        int hour = digits(s, 11, 2, "hour");
        expect(s, 13, ":", "time separator");
        int minute = digits(s, 14, 2, "minute");
        int pos = 16;
        int second = 0;
        int micros = 0;
        if (pos < s.length() && s.charAt(pos) == ':') {
            second = digits(s, pos + 1, 2, "second");
            pos += 3;
            if (pos < s.length() && (s.charAt(pos) == '.' || s.charAt(pos) == ',')) {
                int start = ++pos;
                while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') {
                    if (pos - start < 6) {
                        micros = micros * 10 + (s.charAt(pos) - '0');
                    }
                    pos++;
                }
                if (pos == start) {
                    throw new BadTime("second fraction digits missing");
                }
                for (int i = pos - start; i < 6; i++) {
                    micros *= 10;
                }
            }
        }
        if (pos >= s.length()) {
            throw new BadTime("Input should have timezone info");
        }
        int offset;
        char sign = s.charAt(pos);
        if (sign == 'Z' || sign == 'z') {
            offset = 0;
            pos++;
        } else if (sign == '+' || sign == '-') {
            int oh = digits(s, pos + 1, 2, "timezone hour");
            pos += 3;
            if (pos < s.length() && s.charAt(pos) == ':') {
                pos++;
            }
            if (s.length() < pos + 2) {
                throw new BadTime("invalid timezone minute");
            }
            int om = digits(s, pos, 2, "timezone minute");
            pos += 2;
            if (om > 59) {
                throw new BadTime("timezone minute value is outside expected range of 0-59");
            }
            offset = oh * 3600 + om * 60;
            if (offset >= 24 * 3600) {
                throw new BadTime("timezone offset must be less than 24 hours");
            }
            if (sign == '-') {
                offset = -offset;
            }
        } else {
            throw new BadTime("invalid timezone sign");
        }
        if (pos != s.length()) {
            throw new BadTime("unexpected extra characters at the end of the input");
        }
        if (month < 1 || month > 12) {
            throw new BadTime("month value is outside expected range of 1-12");
        }
        if (day < 1 || day > LocalDate.of(year, month, 1).lengthOfMonth()) {
            throw new BadTime("day value is outside expected range");
        }
        if (hour > 23 || minute > 59 || second > 59) {
            throw new BadTime("time value is outside expected range");
        }
        if (year < 1) {
            throw new BadTime("year 0 is out of range"); // speedate reads it; Python's datetime does not
        }
        long local = LocalDateTime.of(year, month, day, hour, minute, second).toEpochSecond(ZoneOffset.UTC);
        return new Time(local - offset, micros, offset);
    }

    /** [+-]digits[.digits]: seconds since the epoch (milliseconds past the watershed); null if not a number. */
    private static Time number(String s) {
        int i = (s.startsWith("+") || s.startsWith("-")) ? 1 : 0;
        int intDigits = 0;
        while (i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '9') {
            i++;
            intDigits++;
        }
        if (intDigits == 0 || intDigits > 19) {
            return null;
        }
        if (i < s.length()) {
            if (s.charAt(i) != '.') {
                return null;
            }
            for (int j = i + 1; j < s.length(); j++) {
                if (s.charAt(j) < '0' || s.charAt(j) > '9') {
                    return null;
                }
            }
        }
        String text = s.endsWith(".") ? s.substring(0, s.length() - 1) : s;
        BigDecimal value;
        try {
            value = new BigDecimal(text.startsWith("+") ? text.substring(1) : text);
            value.setScale(0, RoundingMode.DOWN).longValueExact(); // an i64, as speedate needs
        } catch (NumberFormatException | ArithmeticException e) {
            return null;
        }
        if (value.abs().compareTo(BigDecimal.valueOf(MS_WATERSHED)) > 0) {
            value = value.movePointLeft(3);
        }
        BigDecimal seconds = value.setScale(0, RoundingMode.FLOOR);
        int micros = value.subtract(seconds).movePointRight(6).setScale(0, RoundingMode.HALF_EVEN).intValue();
        long epoch = seconds.longValue();
        if (micros == 1_000_000) {
            epoch++;
            micros = 0;
        }
        return new Time(epoch, micros, 0);
    }

    /** Orders two times as instants (their offsets aside). */
    static int compare(Time a, Time b) {
        int c = Long.compare(a.epochSecond(), b.epochSecond());
        return c != 0 ? c : Integer.compare(a.micros(), b.micros());
    }
}
