package evidencepublisher.testhapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.packages.IPackageInstallerSvc;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import java.net.InetSocketAddress;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import ca.uhn.hapi.fhir.cdshooks.api.ICdsServiceRegistry;
import ca.uhn.hapi.fhir.cdshooks.config.CdsHooksConfig;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;

/**
 * Runs a HAPI FHIR R5 JPA server (or with `--fhir-version R4` an R4 one with the clinical-reasoning
 * `$apply` operations) on 127.0.0.1:PORT with the FHIR base at /fhir, H2 in memory.
 * Prints one line "READY http://127.0.0.1:PORT/fhir" on stdout once it answers requests.
 */
public final class Main {

	private Main() {}

	public static void main(String[] args) throws Exception {
		boolean r4 = args.length == 3 && args[1].equals("--fhir-version") && args[2].equals("R4");
		boolean r5 = args.length == 1 || (args.length == 3 && args[1].equals("--fhir-version") && args[2].equals("R5"));
		if (!(r4 || r5) || !args[0].matches("\\d{1,5}")) {
			System.err.println("usage: java -jar test-hapi-server-1.jar PORT [--fhir-version R5|R4]");
			System.exit(2);
		}
		int port = Integer.parseInt(args[0]);
		long started = System.nanoTime();
		if (System.getenv("TEST_HAPI_EXIT_ON_STDIN_EOF") != null) {
			exitWhenStdinCloses();
		}

		AnnotationConfigApplicationContext spring = new AnnotationConfigApplicationContext();
		if (r4) {
			spring.register(R4CrConfig.class);
			// The clinical-reasoning repository reads through the RestfulServer, so it is a bean here.
			spring.registerBean(
					RestfulServer.class, () -> new RestfulServer(spring.getBean(FhirContext.class)));
		} else {
			spring.register(R5Config.class);
		}
		spring.refresh();
		spring.registerShutdownHook();

		Server jetty = new Server(new InetSocketAddress("127.0.0.1", port));
		ServletContextHandler context = new ServletContextHandler();
		context.setContextPath("/");
		ServletHolder fhir = new ServletHolder("fhir", r4 ? restfulServerR4(spring) : restfulServer(spring));
		fhir.setInitOrder(1);
		context.addServlet(fhir, "/fhir/*");
		if (r4) {
			CdsHooksServlet cds = new CdsHooksServlet(
					spring.getBean(ICdsServiceRegistry.class),
					spring.getBean(CdsHooksConfig.CDS_HOOKS_OBJECT_MAPPER_FACTORY, ObjectMapper.class));
			context.addServlet(new ServletHolder("cds-hooks", cds), "/cds-services/*");
		}
		jetty.setHandler(context);
		jetty.setStopAtShutdown(true);
		jetty.start();

		long millis = (System.nanoTime() - started) / 1_000_000;
		System.out.printf("READY http://127.0.0.1:%d/fhir (started in %d ms)%n", port, millis);
		System.out.flush();
		jetty.join();
	}

	/**
	 * The test suite keeps a pipe to our stdin open; if it dies without stopping us (SIGKILL),
	 * the pipe closes and we exit instead of lingering.
	 */
	private static void exitWhenStdinCloses() {
		Thread watcher = new Thread(() -> {
			try {
				while (System.in.read() != -1) {
					// ignore anything written to us
				}
			} catch (java.io.IOException ignored) {
				// a broken pipe means the same as end of file
			}
			System.err.println("stdin closed: stopping");
			System.exit(0);
		}, "stdin-watch");
		watcher.setDaemon(true);
		watcher.start();
	}

	private static RestfulServer restfulServer(AnnotationConfigApplicationContext spring) {
		FhirContext fhirContext = spring.getBean(FhirContext.class);
		RestfulServer server = new RestfulServer(fhirContext);
		server.registerProviders(spring.getBean("myResourceProvidersR5", ResourceProviderFactory.class).createProviders());
		server.registerProvider(spring.getBean("mySystemProviderR5"));
		server.registerProvider(new PackageInstallProvider(
				spring.getBean(IPackageInstallerSvc.class), spring.getBean(JpaStorageSettings.class)));
		return configure(server, spring);
	}

	/** R4 with the clinical-reasoning `$apply` operations (registered by CR's ProviderLoader, R4CrConfig). */
	private static RestfulServer restfulServerR4(AnnotationConfigApplicationContext spring) {
		RestfulServer server = spring.getBean(RestfulServer.class);
		server.registerProviders(spring.getBean("myResourceProvidersR4", ResourceProviderFactory.class).createProviders());
		server.registerProvider(spring.getBean("mySystemProviderR4"));
		return configure(server, spring);
	}

	private static RestfulServer configure(RestfulServer server, AnnotationConfigApplicationContext spring) {
		server.setDefaultResponseEncoding(EncodingEnum.JSON);
		DatabaseBackedPagingProvider paging = spring.getBean(DatabaseBackedPagingProvider.class);
		paging.setDefaultPageSize(20);
		paging.setMaximumPageSize(Integer.MAX_VALUE);
		server.setPagingProvider(paging);

		server.setServerConformanceProvider(new JpaCapabilityStatementProvider(
				server,
				spring.getBean(IFhirSystemDao.class),
				spring.getBean(JpaStorageSettings.class),
				spring.getBean(ISearchParamRegistry.class),
				spring.getBean(IValidationSupport.class)));
		return server;
	}
}
