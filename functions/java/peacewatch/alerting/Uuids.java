package peacewatch.alerting;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.UUID;

/** UUIDs as the Python contract reads them, and alert ids as the Python function makes them. */
final class Uuids {
    private Uuids() {}

    /**
     * The canonical (lower-case, hyphenated) form of a UUID written as pydantic reads it: 32 hex
     * digits, 8-4-4-4-12, that in braces, or behind `urn:uuid:`; null otherwise.
     */
    static String canonical(String s) {
        String body = s;
        boolean wrapped = false; // urn: and braces take the hyphenated form only
        if (s.length() == 45 && s.startsWith("urn:uuid:")) {
            body = s.substring(9);
            wrapped = true;
        } else if (s.length() == 38 && s.charAt(0) == '{' && s.charAt(37) == '}') {
            body = s.substring(1, 37);
            wrapped = true;
        }
        StringBuilder hex = new StringBuilder(32);
        if (body.length() == 36) {
            for (int i = 0; i < 36; i++) {
                char c = body.charAt(i);
                boolean dash = i == 8 || i == 13 || i == 18 || i == 23;
                if (dash != (c == '-')) {
                    return null;
                }
                if (!dash) {
                    hex.append(c);
                }
            }
        } else if (body.length() == 32 && !wrapped) {
            hex.append(body);
        } else {
            return null;
        }
        for (int i = 0; i < 32; i++) {
            char c = hex.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
                return null;
            }
        }
        String h = hex.toString().toLowerCase(java.util.Locale.ROOT);
        return h.substring(0, 8) + "-" + h.substring(8, 12) + "-" + h.substring(12, 16) + "-"
                + h.substring(16, 20) + "-" + h.substring(20);
    }

    /** Python's uuid.uuid5(namespace, name). */
    static String uuid5(UUID namespace, String name) {
        MessageDigest sha1;
        try {
            sha1 = MessageDigest.getInstance("SHA-1");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        ByteBuffer ns = ByteBuffer.allocate(16);
        ns.putLong(namespace.getMostSignificantBits()).putLong(namespace.getLeastSignificantBits());
        sha1.update(ns.array());
        byte[] hash = sha1.digest(name.getBytes(StandardCharsets.UTF_8));
        hash[6] = (byte) ((hash[6] & 0x0f) | 0x50);
        hash[8] = (byte) ((hash[8] & 0x3f) | 0x80);
        ByteBuffer b = ByteBuffer.wrap(hash, 0, 16);
        return new UUID(b.getLong(), b.getLong()).toString();
    }
}
