package evidencepublisher.testhapi;

import ca.uhn.fhir.rest.api.server.cdshooks.CdsServiceRequestJson;
import ca.uhn.hapi.fhir.cdshooks.api.ICdsServiceRegistry;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

/**
 * GET /cds-services (discovery) and POST /cds-services/{id} (a hook call) on HAPI's CDS service
 * registry, JSON in and out with the CDS Hooks object mapper. No authentication: a test server.
 */
public final class CdsHooksServlet extends HttpServlet {

	private final transient ICdsServiceRegistry registry;
	private final transient ObjectMapper mapper;

	public CdsHooksServlet(ICdsServiceRegistry registry, ObjectMapper mapper) {
		this.registry = registry;
		this.mapper = mapper;
	}

	@Override
	protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
		String path = req.getPathInfo();
		if (path != null && !path.equals("/")) {
			resp.sendError(404);
			return;
		}
		write(resp, 200, registry.getCdsServicesJson());
	}

	@Override
	protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
		String path = req.getPathInfo();
		if (path == null || path.length() < 2) {
			resp.sendError(404);
			return;
		}
		CdsServiceRequestJson request = mapper.readValue(req.getInputStream(), CdsServiceRequestJson.class);
		try {
			write(resp, 200, registry.callService(path.substring(1), request));
		} catch (RuntimeException e) {
			resp.setStatus(500);
			resp.setContentType("text/plain;charset=UTF-8");
			resp.getWriter().println(e);
		}
	}

	private void write(HttpServletResponse resp, int status, Object body) throws IOException {
		resp.setStatus(status);
		resp.setContentType("application/json;charset=UTF-8");
		resp.getWriter().write(mapper.writeValueAsString(body));
	}
}
