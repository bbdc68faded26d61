package evidencepublisher.testhapi;

import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import org.opencds.cqf.fhir.cql.EvaluationSettings;
import org.opencds.cqf.fhir.cr.hapi.config.RepositoryConfig;
import org.opencds.cqf.fhir.cr.hapi.config.r4.ApplyOperationConfig;
import org.opencds.cqf.fhir.utility.client.TerminologyServerClientSettings;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;

/**
 * `--fhir-version R4`: HAPI's R4 JPA configuration on the common settings, plus the
 * clinical-reasoning module's `$apply` operations (PlanDefinition, ActivityDefinition,
 * GraphDefinition; its ProviderLoader registers them on the RestfulServer) and its
 * PlanDefinition-backed CDS Hooks services (R4CdsHooksConfig). The measure, questionnaire and
 * artifact-lifecycle operations are not wired. The CR repository needs the RestfulServer as a
 * bean; Main registers it before the context starts.
 */
@Configuration
@Import({
	JpaR4Config.class,
	ServerConfig.class,
	RepositoryConfig.class,
	ApplyOperationConfig.class,
	R4CdsHooksConfig.class
})
public class R4CrConfig {

	/** The clinical-reasoning module's own defaults (CQL engine options, no terminology server). */
	@Bean
	public EvaluationSettings evaluationSettings() {
		return EvaluationSettings.getDefault();
	}

	@Bean
	public TerminologyServerClientSettings terminologyServerClientSettings() {
		return TerminologyServerClientSettings.getDefault();
	}
}
