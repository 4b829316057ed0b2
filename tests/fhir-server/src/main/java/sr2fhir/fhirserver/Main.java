package sr2fhir.fhirserver;

import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.config.r5.JpaR5Config;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Starts the test FHIR server: a Spring context with HAPI's JPA beans, then Jetty serving it
 * at {@code http://HOST:PORT/fhir}.
 *
 * <pre>
 * java -jar sr2fhir-test-fhir-server.jar [--fhir-version R5|R4] [--host 127.0.0.1] [--port N] [--port-file F]
 * </pre>
 * Port 0 (the default) lets the OS pick a free port; the port actually bound is logged and, with
 * {@code --port-file}, written to that file once the server answers requests.
 */
public final class Main {
	private static final Logger LOG = LoggerFactory.getLogger(Main.class);

	private Main() {}

	public static void main(String[] args) throws Exception {
		String version = "R5";
		String host = "127.0.0.1";
		int port = 0;
		Path portFile = null;
		for (int i = 0; i < args.length; i++) {
			String a = args[i];
			if (i + 1 >= args.length) {
				usage("missing value for " + a);
			}
			switch (a) {
				case "--fhir-version" -> version = args[++i].toUpperCase();
				case "--host" -> host = args[++i];
				case "--port" -> port = Integer.parseInt(args[++i]);
				case "--port-file" -> portFile = Path.of(args[++i]);
				default -> usage("unknown argument " + a);
			}
		}
		Class<?> versionConfig = switch (version) {
			case "R5" -> JpaR5Config.class;
			case "R4" -> JpaR4Config.class;
			default -> {
				usage("--fhir-version must be R5 or R4, not " + version);
				yield null;
			}
		};

		long t0 = System.nanoTime();
		AnnotationConfigApplicationContext spring = new AnnotationConfigApplicationContext(
				ServerConfig.class, HapiJpaConfig.class, versionConfig);

		Server jetty = new Server();
		ServerConnector connector = new ServerConnector(jetty);
		connector.setHost(host);
		connector.setPort(port);
		jetty.addConnector(connector);
		ServletContextHandler context = new ServletContextHandler();
		context.setContextPath("/");
		ServletHolder fhir = new ServletHolder("fhir", new FhirServlet(spring));
		fhir.setInitOrder(1); // initialise at start, not on the first request
		context.addServlet(fhir, "/fhir/*");
		jetty.setHandler(context);
		jetty.setStopAtShutdown(true); // SIGTERM: stop Jetty, then the shutdown hook below
		Runtime.getRuntime().addShutdownHook(new Thread(spring::close, "spring-close"));
		jetty.start();

		int bound = connector.getLocalPort();
		String base = "http://" + host + ":" + bound + "/fhir";
		LOG.info("FHIR {} server ready at {} after {} ms", version, base, (System.nanoTime() - t0) / 1_000_000);
		if (portFile != null) {
			Path tmp = portFile.resolveSibling(portFile.getFileName() + ".tmp");
			Files.writeString(tmp, bound + "\n", StandardCharsets.US_ASCII);
			Files.move(tmp, portFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
		}
		jetty.join();
	}

	private static void usage(String problem) {
		System.err.println("error: " + problem);
		System.err.println("usage: java -jar sr2fhir-test-fhir-server.jar [--fhir-version R5|R4] "
				+ "[--host 127.0.0.1] [--port N] [--port-file FILE]");
		System.exit(2);
	}
}
