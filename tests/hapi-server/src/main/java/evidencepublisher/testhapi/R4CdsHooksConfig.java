package evidencepublisher.testhapi;

import ca.uhn.hapi.fhir.cdshooks.api.CDSHooksVersion;
import ca.uhn.hapi.fhir.cdshooks.api.ICdsHooksDaoAuthorizationSvc;
import ca.uhn.hapi.fhir.cdshooks.config.CdsHooksConfig;
import ca.uhn.hapi.fhir.cdshooks.svc.CdsHooksContextBooter;
import org.opencds.cqf.fhir.cr.hapi.cdshooks.CdsCrSettings;
import org.opencds.cqf.fhir.cr.hapi.config.CrCdsHooksConfig;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;

/**
 * HAPI's CDS Hooks module with the clinical-reasoning services: every stored PlanDefinition with a
 * named-event trigger becomes a CDS service (id = the PlanDefinition's id) answered by `$apply`.
 * CdsHooksServlet serves them at /cds-services.
 */
@Configuration
@Import({CdsHooksConfig.class, CrCdsHooksConfig.class})
public class R4CdsHooksConfig {

	/** No annotated CDS service classes: all services come from PlanDefinitions. */
	@Bean
	public CdsHooksContextBooter cdsHooksContextBooter() {
		return new CdsHooksContextBooter();
	}

	@Bean
	public CDSHooksVersion cdsHooksVersion() {
		return CDSHooksVersion.DEFAULT;
	}

	@Bean
	public CdsCrSettings cdsCrSettings() {
		return CdsCrSettings.getDefault();
	}

	/** A test server: prefetch reads of the local database need no authorization. */
	@Bean
	public ICdsHooksDaoAuthorizationSvc cdsHooksDaoAuthorizationSvc() {
		return resource -> {};
	}
}
