// The Java driver's logging: log4j2 (Kafka's) configured in code, WARN and above to stderr, so
// stdout carries only the JSON line. JAVA_DRIVER_LOG_LEVEL=INFO (or DEBUG) shows more. See
// Driver.java.

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.protocol.Errors;

final class Logs {
    static org.apache.logging.log4j.core.LoggerContext context;

    static void init() {
        org.apache.logging.log4j.Level level =
                org.apache.logging.log4j.Level.toLevel(System.getenv("JAVA_DRIVER_LOG_LEVEL"), org.apache.logging.log4j.Level.WARN);
        var b = org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilderFactory.newConfigurationBuilder();
        b.setStatusLevel(org.apache.logging.log4j.Level.ERROR);
        b.setConfigurationName("java-driver");
        b.add(b.newAppender("stderr", "Console")
                .addAttribute("target", org.apache.logging.log4j.core.appender.ConsoleAppender.Target.SYSTEM_ERR)
                .add(b.newLayout("PatternLayout").addAttribute("pattern", "%d{HH:mm:ss.SSS} %-5level %c{1} - %msg%n%throwable")));
        b.add(b.newRootLogger(level).add(b.newAppenderRef("stderr")));
        context = org.apache.logging.log4j.core.config.Configurator.initialize(b.build());
    }

    static final Pattern ERROR_NAME = Pattern.compile("Error: ([A-Z][A-Z_]+)");
    static final Pattern EXCEPTION_NAME = Pattern.compile("\\b([A-Z][A-Za-z]*Exception)\\b");

    /** Starts collecting the simple class names of retriable Kafka errors that client log lines
     * (WARN and above) mention, e.g. the producer's "Got error produce response ... retrying
     * ... Error: NOT_LEADER_OR_FOLLOWER"; returns the live set. */
    static Set<String> captureRetriable() {
        Set<String> seen = ConcurrentHashMap.newKeySet();
        var appender = new org.apache.logging.log4j.core.appender.AbstractAppender("retriable", null, null, true,
                org.apache.logging.log4j.core.config.Property.EMPTY_ARRAY) {
            @Override
            public void append(org.apache.logging.log4j.core.LogEvent event) {
                String msg = event.getMessage().getFormattedMessage();
                Matcher m = ERROR_NAME.matcher(msg);
                while (m.find()) {
                    try {
                        Throwable ex = Errors.valueOf(m.group(1)).exception();
                        if (ex instanceof RetriableException) seen.add(ex.getClass().getSimpleName());
                    } catch (IllegalArgumentException notAnError) {
                        // some other capitalised word
                    }
                }
                StringBuilder text = new StringBuilder(msg);
                for (Throwable t = event.getThrown(); t != null; t = t.getCause()) text.append(' ').append(t.getClass().getName());
                m = EXCEPTION_NAME.matcher(text);
                while (m.find()) {
                    try {
                        Class<?> c = Class.forName("org.apache.kafka.common.errors." + m.group(1));
                        if (RetriableException.class.isAssignableFrom(c)) seen.add(c.getSimpleName());
                    } catch (ClassNotFoundException notKafka) {
                        // not one of Kafka's error classes
                    }
                }
            }
        };
        appender.start();
        var config = context.getConfiguration();
        config.addAppender(appender);
        config.getRootLogger().addAppender(appender, org.apache.logging.log4j.Level.WARN, null);
        context.updateLoggers();
        return seen;
    }
}
