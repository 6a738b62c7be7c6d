"""Security headers Django has no setting for (docs/security.md, "Headers and CSP").

The Content-Security-Policy comes from django-csp (CONTENT_SECURITY_POLICY in
settings/base.py); X-Frame-Options, nosniff, Referrer-Policy and
Cross-Origin-Opener-Policy from Django's own settings. This adds:

- Permissions-Policy: no page of PodHub uses the camera, microphone, location,
  motion sensors, USB or the Payment Request API, so none may (nor may anything
  injected into a page);
- Cross-Origin-Resource-Policy: same-origin, so other sites cannot embed our
  pages, images or files (print files go to providers' servers, not browsers).
"""

PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), "
                      "magnetometer=(), microphone=(), payment=(), usb=()")


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        return response
