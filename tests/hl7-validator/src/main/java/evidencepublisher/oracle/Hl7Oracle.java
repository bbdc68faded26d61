package evidencepublisher.oracle;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.hl7.fhir.r5.elementmodel.Manager.FhirFormat;
import org.hl7.fhir.r5.utils.validation.constants.ReferenceValidationPolicy;
import org.hl7.fhir.utilities.http.ManagedWebAccess;
import org.hl7.fhir.utilities.npm.NpmPackage;
import org.hl7.fhir.utilities.validation.ValidationMessage;
import org.hl7.fhir.validation.ValidationEngine;
import org.hl7.fhir.validation.ValidatorUtils;
import org.hl7.fhir.validation.instance.advisor.BasePolicyAdvisorForFullValidation;
import org.hl7.fhir.validation.service.model.InstanceValidatorParameters;

/**
 * The HL7 reference validator (org.hl7.fhir.validation's ValidationEngine) as the oracle of the
 * evidence-publisher differential tests.
 *
 * <pre>
 *   java -Duser.home=SCRATCH -cp CLASSPATH evidencepublisher.oracle.Hl7Oracle CORE PKG_DIR... [-- FILE...]
 * </pre>
 *
 * CORE is a package id (hl7.fhir.r5.core#5.0.0) that the HL7 package manager finds in
 * SCRATCH/.fhir/packages; every PKG_DIR (a "name#version" folder holding package/) is loaded
 * as it is, without its dependencies, so that the packages we have stand in for the versions
 * the HL7 defaults ask for. No network access: the web access policy is PROHIBITED and there
 * is no terminology server.
 *
 * With FILE arguments each file is validated once and the JVM exits (a cold call). Without,
 * it prints "ready" and then reads one file path per line on stdin and answers one JSON line
 * per file on stdout (the warm server loop); an empty line or end of input stops it.
 */
public final class Hl7Oracle {

  private Hl7Oracle() {
  }

  public static void main(String[] args) throws Exception {
    ManagedWebAccess.setAccessPolicy(ManagedWebAccess.WebAccessPolicy.PROHIBITED);
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    // Everything the engine logs goes to stderr; stdout carries only the protocol.
    System.setOut(System.err);
    if (args.length < 1) {
      System.err.println("usage: Hl7Oracle CORE_PACKAGE_ID [PACKAGE_DIR...] [-- FILE...]");
      System.exit(2);
    }
    List<String> packages = new ArrayList<>();
    List<String> files = null;
    for (int i = 1; i < args.length; i++) {
      if (args[i].equals("--")) {
        files = new ArrayList<>();
      } else if (files != null) {
        files.add(args[i]);
      } else {
        packages.add(args[i]);
      }
    }
    ValidationEngine engine = engine(args[0], packages);
    if (files != null) {
      for (String file : files) {
        out.println(answer(engine, file));
      }
      return;
    }
    out.println("ready");
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null && !line.isEmpty()) {
      out.println(answer(engine, line));
    }
  }

  private static ValidationEngine engine(String core, List<String> packageDirs) throws Exception {
    // Like our validator: an unknown extension is a warning ("any" extension domain), example
    // URLs (example.org) are accepted, a code system we do not have is not an error, and the
    // type of a relative reference is read from its RESTful URL ([type]/[id]) even when the
    // target is not in the file (the CLI's -assumeValidRestReferences).
    InstanceValidatorParameters parameters = new InstanceValidatorParameters()
        .addExtension("any")
        .setAllowExampleUrls(true)
        .setUnknownCodeSystemsCauseErrors(false)
        .setAssumeValidRestReferences(true);
    ValidationEngine engine = new ValidationEngine.ValidationEngineBuilder()
        .withDefaultInstanceValidatorParameters(parameters)
        .withVersion("5.0")
        .withNoTerminologyServer()
        .withCanRunWithoutTerminologyServer(true)
        .withUserAgent("evidence-publisher-differential")
        .fromSource(core);
    for (String dir : packageDirs) {
      NpmPackage npm = NpmPackage.fromFolder(dir);
      engine.getContext().loadFromPackage(npm, ValidatorUtils.loaderForVersion(npm.fhirVersion()), false);
    }
    // References to resources outside the file are not followed.
    engine.setPolicyAdvisor(new BasePolicyAdvisorForFullValidation(ReferenceValidationPolicy.CHECK_TYPE_IF_EXISTS, null));
    engine.setShowMessageIds(true);
    engine.prepare();
    return engine;
  }

  private static String answer(ValidationEngine engine, String file) {
    StringBuilder sb = new StringBuilder();
    sb.append("{\"file\":").append(quote(file)).append(",\"issues\":[");
    try {
      byte[] source = Files.readAllBytes(Path.of(file));
      List<ValidationMessage> messages = new ArrayList<>();
      engine.validate(source, FhirFormat.JSON, new ArrayList<>(), messages);
      boolean first = true;
      for (ValidationMessage m : messages) {
        if (!first) {
          sb.append(',');
        }
        first = false;
        sb.append("{\"severity\":").append(quote(m.getLevel() == null ? "" : m.getLevel().toCode()))
            .append(",\"type\":").append(quote(m.getType() == null ? "" : m.getType().toCode()))
            .append(",\"location\":").append(quote(m.getLocation()))
            .append(",\"line\":").append(m.getLine())
            .append(",\"id\":").append(quote(m.getMessageId()))
            .append(",\"invariant\":").append(quote(m.getInvId()))
            .append(",\"message\":").append(quote(m.getMessage()))
            .append('}');
      }
      sb.append("]}");
    } catch (Exception | StackOverflowError e) {
      return "{\"file\":" + quote(file) + ",\"crash\":" + quote(e.getClass().getSimpleName() + ": " + e.getMessage())
          + "}";
    }
    return sb.toString();
  }

  private static String quote(String s) {
    if (s == null) {
      return "null";
    }
    StringBuilder sb = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    return sb.append('"').toString();
  }
}
