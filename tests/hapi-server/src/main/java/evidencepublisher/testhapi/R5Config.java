package evidencepublisher.testhapi;

import ca.uhn.fhir.jpa.config.r5.JpaR5Config;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;

/** The default server: HAPI's R5 JPA configuration on the common settings. */
@Configuration
@Import({JpaR5Config.class, ServerConfig.class})
public class R5Config {}
