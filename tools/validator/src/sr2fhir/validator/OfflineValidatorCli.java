package sr2fhir.validator;

import java.io.IOException;
import java.net.URISyntaxException;

import org.hl7.fhir.exceptions.FHIRException;
import org.hl7.fhir.r5.context.ILoggingService;
import org.hl7.fhir.r5.formats.ParserFactory;
import org.hl7.fhir.utilities.ENoDump;
import org.hl7.fhir.utilities.FhirPublication;
import org.hl7.fhir.utilities.TimeTracker;
import org.hl7.fhir.validation.ValidationEngine;
import org.hl7.fhir.validation.ValidationEngine.ValidationEngineBuilder;
import org.hl7.fhir.validation.ValidatorCli;
import org.hl7.fhir.validation.cli.model.CliContext;
import org.hl7.fhir.validation.cli.services.ValidationService;
import org.hl7.fhir.validation.cli.utils.Params;

/**
 * Entry point for sr2fhir's offline runs of the official HL7 validator CLI.
 *
 * It is org.hl7.fhir.validation.ValidatorCli with exactly one change: the validator's
 * ValidationService hard-codes the versions of the two support packages it always loads
 * for R5 (hl7.terminology.r5 and hl7.fhir.uv.extensions.r5). Those exact versions are not
 * available offline here, so this launcher substitutes the versions that tools/validator/setup.sh
 * put into the FHIR package cache. Argument parsing, validation and output are the CLI's own.
 *
 * System properties (set by tools/validator/validate.py):
 *   sr2fhir.tho.version         version of hl7.terminology.r5 to load
 *   sr2fhir.extensions.version  version of hl7.fhir.uv.extensions.r5 to load
 */
public final class OfflineValidatorCli extends ValidatorCli {

  private OfflineValidatorCli(ValidationService service) {
    super(service);
  }

  public static void main(String[] args) throws Exception {
    String tho = System.getProperty("sr2fhir.tho.version");
    String ext = System.getProperty("sr2fhir.extensions.version");
    if (tho == null || ext == null) {
      throw new IllegalArgumentException(
          "set -Dsr2fhir.tho.version=... and -Dsr2fhir.extensions.version=...");
    }
    // the same preparation ValidatorCli.main does
    System.setProperty("slf4j.internal.verbosity", "WARN");
    ParserFactory.registerCustomResources();
    OfflineValidatorCli cli = new OfflineValidatorCli(new PinnedService(tho, ext));
    CliContext context = Params.loadCliContext(args);
    try {
      cli.readParamsAndExecuteTask(context, args);
    } catch (ENoDump e) {
      System.out.println(e.getMessage());
    }
  }

  /** The CLI's ValidationService, handing out a builder that pins the support package versions. */
  static final class PinnedService extends ValidationService {
    private final String tho;
    private final String ext;

    PinnedService(String tho, String ext) {
      this.tho = tho;
      this.ext = ext;
    }

    @Override
    protected ValidationEngineBuilder getValidationEngineBuilder() {
      return new PinnedBuilder(new ValidationEngineBuilder(), tho, ext);
    }
  }

  /**
   * Wraps the (immutable) engine builder: every call is forwarded, except that the requested
   * terminology/extensions package versions are replaced by the pinned ones.
   */
  static final class PinnedBuilder extends ValidationEngineBuilder {
    private final ValidationEngineBuilder inner;
    private final String tho;
    private final String ext;

    PinnedBuilder(ValidationEngineBuilder inner, String tho, String ext) {
      this.inner = inner.withThoVersion(tho).withExtensionsVersion(ext);
      this.tho = tho;
      this.ext = ext;
    }

    private PinnedBuilder wrap(ValidationEngineBuilder next) {
      return new PinnedBuilder(next, tho, ext);
    }

    @Override
    public ValidationEngineBuilder withThoVersion(String requested) {
      if (!tho.equals(requested)) {
        System.out.println("  (sr2fhir: hl7.terminology.r5#" + requested + " requested, using #" + tho + ")");
      }
      return this;
    }

    @Override
    public ValidationEngineBuilder withExtensionsVersion(String requested) {
      if (!ext.equals(requested)) {
        System.out.println("  (sr2fhir: hl7.fhir.uv.extensions.r5#" + requested + " requested, using #" + ext + ")");
      }
      return this;
    }

    @Override
    public ValidationEngineBuilder withTxServer(String txServer, String txLog, FhirPublication txVersion, boolean useEcosystem) {
      return wrap(inner.withTxServer(txServer, txLog, txVersion, useEcosystem));
    }

    @Override
    public ValidationEngineBuilder withNoTerminologyServer() {
      return wrap(inner.withNoTerminologyServer());
    }

    @Override
    public ValidationEngineBuilder withTerminologyCachePath(String path) {
      return wrap(inner.withTerminologyCachePath(path));
    }

    @Override
    public ValidationEngineBuilder withUserAgent(String userAgent) {
      return wrap(inner.withUserAgent(userAgent));
    }

    @Override
    public ValidationEngineBuilder withVersion(String version) {
      return wrap(inner.withVersion(version));
    }

    @Override
    public ValidationEngineBuilder withTimeTracker(TimeTracker timeTracker) {
      return wrap(inner.withTimeTracker(timeTracker));
    }

    @Override
    public ValidationEngineBuilder withCanRunWithoutTerminologyServer(boolean can) {
      return wrap(inner.withCanRunWithoutTerminologyServer(can));
    }

    @Override
    public ValidationEngineBuilder withLoggingService(ILoggingService loggingService) {
      return wrap(inner.withLoggingService(loggingService));
    }

    @Override
    public ValidationEngine fromNothing() throws IOException {
      return inner.fromNothing();
    }

    @Override
    public ValidationEngine fromSource(String src) throws IOException, URISyntaxException, FHIRException {
      return inner.fromSource(src);
    }
  }
}
