package peacewatch.stack;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;
import org.apache.pulsar.client.impl.auth.AuthenticationToken;
import org.apache.pulsar.functions.auth.ClearTextFunctionTokenAuthProvider;
import org.apache.pulsar.functions.auth.FunctionAuthData;
import org.apache.pulsar.functions.instance.AuthenticationConfig;
import org.apache.pulsar.functions.proto.Function;

/**
 * Pulsar's ClearTextFunctionTokenAuthProvider, but the instance gets its token as a file: the
 * process runtime puts the authentication parameters on the instance's command line, which every
 * process on the host can read (`ps`). The token goes to an owner-only file in the directory named
 * by PEACEWATCH_INSTANCE_TOKENS, and the instance is given {@code file://PATH} (both the Java and
 * the C++ client read a token from such a file). The sandbox binds back that one file.
 */
public class TokenFileAuthProvider extends ClearTextFunctionTokenAuthProvider {
    static final String DIR_ENV = "PEACEWATCH_INSTANCE_TOKENS";

    @Override
    public void configureAuthenticationConfig(AuthenticationConfig config, Optional<FunctionAuthData> data) {
        if (data.isEmpty()) {
            super.configureAuthenticationConfig(config, data);
            return;
        }
        Path file = write(data.get().getData());
        config.setClientAuthenticationPlugin(AuthenticationToken.class.getName());
        config.setClientAuthenticationParameters("file://" + file);
    }

    @Override
    public void cleanUpAuthData(Function.FunctionDetails details, Optional<FunctionAuthData> data)
            throws Exception {
        super.cleanUpAuthData(details, data);
        if (data.isPresent()) {
            Files.deleteIfExists(fileOf(data.get().getData()));
        }
    }

    static Path directory() {
        String dir = System.getenv(DIR_ENV);
        if (dir == null || dir.isEmpty()) {
            // Fail closed: without it the token would have to go back on the command line.
            throw new IllegalStateException(DIR_ENV + " is not set: nowhere to keep instance tokens");
        }
        return Path.of(dir);
    }

    /** Named by the token's digest: the same token (an instance restarted) reuses its file. */
    static Path fileOf(byte[] token) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(token);
            return directory().resolve(HexFormat.of().formatHex(digest) + ".token");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static Path write(byte[] token) {
        Path file = fileOf(token);
        try {
            Path dir = Files.createDirectories(file.getParent(),
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            // Written whole under a temporary name, owner-only from its creation, then renamed: an
            // instance never reads half a token and no one else ever may read it.
            Path tmp = Files.createTempFile(dir, ".token-", ".tmp",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.write(tmp, new String(token, StandardCharsets.UTF_8).strip().getBytes(StandardCharsets.UTF_8));
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write an instance token under " + file.getParent(), e);
        }
    }
}
