package evidencepublisher.testhapi;

import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.packages.IPackageInstallerSvc;
import ca.uhn.fhir.jpa.packages.PackageInstallOutcomeJson;
import ca.uhn.fhir.jpa.packages.PackageInstallationSpec;
import ca.uhn.fhir.rest.annotation.Operation;
import ca.uhn.fhir.rest.annotation.OperationParam;
import ca.uhn.fhir.rest.server.exceptions.InvalidRequestException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.hl7.fhir.r5.model.Base64BinaryType;
import org.hl7.fhir.r5.model.IntegerType;
import org.hl7.fhir.r5.model.Parameters;
import org.hl7.fhir.r5.model.StringType;
import org.hl7.fhir.utilities.npm.NpmPackage;

/**
 * {@code POST /fhir/$install}: installs a FHIR NPM package (package.tgz) through HAPI's own
 * package installer ({@link IPackageInstallerSvc}, the service behind hapi-fhir-jpaserver-starter's
 * {@code implementationguides} setting), so the tests can prove that HAPI loads our packages.
 *
 * <p>Parameters: {@code package} (base64Binary, the .tgz), {@code resourceType} (string, repeated:
 * the types to install, in this order; HAPI's default is only conformance resources). The answer
 * lists the package name and version and how many resources of each type were created or updated.
 *
 * <p>Two of HAPI's defaults are lifted while a package installs, because the installer writes one
 * resource at a time: knowledge resources reference each other (also in cycles, Composition and
 * ArtifactAssessment), so referential integrity on write is off until the last one is in; and
 * HAPI installs only resources whose {@code status} is {@code active}, which would skip a
 * guideline's {@code final} Composition. Both settings are restored afterwards.
 */
public final class PackageInstallProvider {

	private final IPackageInstallerSvc myInstaller;
	private final JpaStorageSettings mySettings;

	public PackageInstallProvider(IPackageInstallerSvc theInstaller, JpaStorageSettings theSettings) {
		myInstaller = theInstaller;
		mySettings = theSettings;
	}

	@Operation(name = "$install")
	public Parameters install(
			@OperationParam(name = "package", min = 1, max = 1) Base64BinaryType thePackage,
			@OperationParam(name = "resourceType", min = 0, max = OperationParam.MAX_UNLIMITED)
					List<StringType> theTypes) {
		byte[] bytes = thePackage == null ? null : thePackage.getValue();
		if (bytes == null || bytes.length == 0) {
			throw new InvalidRequestException("$install: the 'package' parameter (base64 of a package.tgz) is empty");
		}
		NpmPackage npm;
		try {
			npm = NpmPackage.fromPackage(new ByteArrayInputStream(bytes));
		} catch (IOException e) {
			throw new InvalidRequestException("$install: not a readable FHIR NPM package: " + e.getMessage());
		}
		PackageInstallationSpec spec = new PackageInstallationSpec()
				.setName(npm.name())
				.setVersion(npm.version())
				.setPackageContents(bytes)
				.setInstallMode(PackageInstallationSpec.InstallModeEnum.STORE_AND_INSTALL)
				.setFetchDependencies(false)
				// keep the package's own ids (MULTI_VERSION would give canonical resources new ones)
				.setVersionPolicy(PackageInstallationSpec.VersionPolicyEnum.SINGLE_VERSION);
		List<String> types = new ArrayList<>();
		if (theTypes != null) {
			theTypes.forEach(t -> types.add(t.getValue()));
		}
		spec.setInstallResourceTypes(types);

		PackageInstallOutcomeJson outcome;
		synchronized (this) {
			boolean integrity = mySettings.isEnforceReferentialIntegrityOnWrite();
			boolean statusCheck = mySettings.isValidateResourceStatusForPackageUpload();
			mySettings.setEnforceReferentialIntegrityOnWrite(false);
			mySettings.setValidateResourceStatusForPackageUpload(false);
			try {
				outcome = myInstaller.install(spec);
			} finally {
				mySettings.setEnforceReferentialIntegrityOnWrite(integrity);
				mySettings.setValidateResourceStatusForPackageUpload(statusCheck);
			}
		}

		Parameters result = new Parameters();
		result.addParameter("name", npm.name());
		result.addParameter("version", npm.version());
		for (Map.Entry<String, Integer> next : outcome.getResourcesInstalled().entrySet()) {
			Parameters.ParametersParameterComponent part = result.addParameter().setName("installed");
			part.addPart().setName("resourceType").setValue(new StringType(next.getKey()));
			part.addPart().setName("count").setValue(new IntegerType(next.getValue()));
		}
		for (String message : outcome.getMessage()) {
			result.addParameter("message", message);
		}
		return result;
	}
}
