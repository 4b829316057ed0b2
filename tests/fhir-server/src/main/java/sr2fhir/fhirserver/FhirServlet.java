package sr2fhir.fhirserver;

import ca.uhn.fhir.batch2.jobs.bulkmodify.reindex.ReindexProvider;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.JpaSystemProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import org.springframework.context.ApplicationContext;

/**
 * The FHIR REST endpoint: HAPI's {@link RestfulServer} wired to the JPA beans of the Spring
 * context (one resource provider per resource type, the system provider for transactions and
 * history, $reindex, and the capability statement for {@code GET /metadata}).
 */
public class FhirServlet extends RestfulServer {
	private static final long serialVersionUID = 1L;

	private final transient ApplicationContext spring;

	public FhirServlet(ApplicationContext spring) {
		super(spring.getBean(FhirContext.class));
		this.spring = spring;
	}

	@Override
	protected void initialize() {
		registerProviders(spring.getBean(ResourceProviderFactory.class).createProviders());
		registerProvider(spring.getBean(JpaSystemProvider.class));
		// $reindex: re-extracts search indexes, e.g. after a custom SearchParameter is added.
		registerProvider(spring.getBean(ReindexProvider.class));

		IFhirSystemDao<?, ?> systemDao = spring.getBean(IFhirSystemDao.class);
		JpaCapabilityStatementProvider capabilities = new JpaCapabilityStatementProvider(
				this,
				systemDao,
				spring.getBean(JpaStorageSettings.class),
				spring.getBean(ISearchParamRegistry.class),
				spring.getBean(IValidationSupport.class));
		capabilities.setImplementationDescription("sr2fhir test server (HAPI FHIR JPA, in-memory H2)");
		setServerConformanceProvider(capabilities);

		// Large searches are paged through the database, as on a production HAPI server.
		setPagingProvider(spring.getBean(DatabaseBackedPagingProvider.class));
		setDefaultResponseEncoding(EncodingEnum.JSON);
	}
}
