// Starts Swagger UI on the API docs page (no inline script, so a strict CSP can stay on).
// "Try it out" works with an API key (Authorize) or with the logged-in session (CSRF header).
(function () {
  var settings = JSON.parse(document.getElementById("swagger-settings").textContent);
  var csrfToken = document.body.dataset.csrfToken;
  settings.dom_id = "#swagger-ui";
  settings.presets = [SwaggerUIBundle.presets.apis];
  settings.requestInterceptor = function (req) {
    if (csrfToken) {
      req.headers["X-CSRFToken"] = csrfToken;
    }
    return req;
  };
  window.ui = SwaggerUIBundle(settings);
})();
