// A real Elasticsearch-API search server for Hydrant's end-to-end tests: one
// OpenSearch node run embedded in this JVM (no Docker, no distribution; the
// jars come from Maven Central), bound to 127.0.0.1, driven by the Go package
// github.com/hydrant-dev/hydrant/e2e/opensearch.
//
//	java -cp '.cache/opensearch/lib/*' dev.hydrant.searchserver.Main DATA_DIR [HTTP_PORT]
//
// (or -Dhydrant.search.dir=DATA_DIR -Dhydrant.search.port=HTTP_PORT). Port 0
// or none picks a free one. Once the node has started and its HTTP layer is
// bound it prints exactly one line to stdout,
//
//	HYDRANT-SEARCH-READY http://127.0.0.1:PORT
//
// and then runs until SIGTERM, on which it closes the node. Logs go to stderr.
// With -Dhydrant.search.watchStdin=true it also stops when its stdin closes, so
// a test process that dies without cleaning up takes the server with it.
// Indices live under DATA_DIR/data, so a restart on the same DATA_DIR keeps them.
package dev.hydrant.searchserver;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.appender.ConsoleAppender;
import org.apache.logging.log4j.core.config.Configurator;
import org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilder;
import org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilderFactory;
import org.apache.logging.log4j.core.config.builder.impl.BuiltConfiguration;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

public final class Main {
    /** Node's constructor that takes classpath plugins is protected. */
    private static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment env) {
            super(env, List.<Class<? extends Plugin>>of(Netty4Plugin.class, CommonAnalysisPlugin.class), true);
        }
    }

    public static void main(String[] args) throws Exception {
        String dirArg = args.length > 0 ? args[0] : System.getProperty("hydrant.search.dir");
        String portArg = args.length > 1 ? args[1] : System.getProperty("hydrant.search.port", "0");
        if (dirArg == null || dirArg.isEmpty()) {
            System.err.println("usage: Main DATA_DIR [HTTP_PORT]");
            System.exit(2);
        }
        int port = portArg.isEmpty() ? 0 : Integer.parseInt(portArg);
        Path dir = Path.of(dirArg).toAbsolutePath();
        Files.createDirectories(dir);
        logToStderr(); // before anything asks log4j for a logger

        Settings settings = Settings.builder()
            .put("path.home", dir.toString())
            .put("path.data", dir.resolve("data").toString())
            .put("path.logs", dir.resolve("logs").toString())
            .put("cluster.name", "hydrant-test")
            .put("node.name", "hydrant-search")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", Integer.toString(port))
            .put("transport.port", "0")
            // A nearly full disk must not make indices read-only mid-test.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .build();
        Environment env = InternalSettingsPreparer.prepareEnvironment(settings, Collections.emptyMap(), null, () -> "hydrant-search");
        Node node = new EmbeddedNode(env);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                LogManager.shutdown();
            }
        }, "hydrant-search-shutdown"));
        try {
            node.start();
        } catch (Throwable e) {
            e.printStackTrace();
            System.exit(1); // runs the shutdown hook, which closes what started
        }
        int bound = node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress().getPort();
        System.out.println("HYDRANT-SEARCH-READY http://127.0.0.1:" + bound);
        System.out.flush();
        if (Boolean.getBoolean("hydrant.search.watchStdin")) {
            while (System.in.read() >= 0) {
                // Nothing to read: it only waits for end of file.
            }
            System.exit(0); // runs the shutdown hook
        }
        Thread.currentThread().join(); // until SIGTERM; the node's threads do the work
    }

    /** Log4j configuration: INFO and up to stderr, no shutdown hook of its own (ours flushes it last). */
    private static void logToStderr() {
        ConfigurationBuilder<BuiltConfiguration> b = ConfigurationBuilderFactory.newConfigurationBuilder();
        b.setShutdownHook("disable");
        b.add(b.newAppender("stderr", "Console")
            .addAttribute("target", ConsoleAppender.Target.SYSTEM_ERR)
            .add(b.newLayout("PatternLayout").addAttribute("pattern", "[%d{ISO8601}][%-5p][%c{1.}] %m%n")));
        b.add(b.newRootLogger(Level.INFO).add(b.newAppenderRef("stderr")));
        Configurator.initialize(b.build());
    }
}
