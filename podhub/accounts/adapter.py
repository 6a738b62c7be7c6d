from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.internal.ratelimit import get_ip
from django.urls import reverse


class AccountAdapter(DefaultAccountAdapter):
    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        """The `key` of the `login_failed` rate limit: the account *and* the client's
        address, so that failures from one address never lock the account out for
        everyone else (docs/security.md "Sign-in throttling"). allauth's own key is the
        account alone. The address is allauth's own reading of it (trusted proxies,
        IPv6 /64), the one its per-IP limits use too."""
        return f"{super()._get_login_attempts_cache_key(request, **credentials)}|{get_ip(request)}"

    def get_login_redirect_url(self, request):
        # An invitation followed before signing in is accepted right after it.
        pending = request.session.get("pending_invitation")
        if pending:
            return reverse("workspaces:invitation", kwargs={"token": pending})
        return super().get_login_redirect_url(request)

    def send_mail(self, template_prefix, email, context):
        """allauth's messages (sign-up code, password reset, ...) go through the e-mail
        outbox like every other (podhub/core/mail.py): a row first, sent by a worker after
        commit, retried by the sweep; never SMTP inside the request."""
        from podhub.core import mail

        context.setdefault("product_name", "PodHub")
        msg = self.render_mail(template_prefix, email, context)
        html = next((content for content, mime in getattr(msg, "alternatives", [])
                     if mime == "text/html"), "")
        if msg.content_subtype == "html":  # only an HTML template
            html = html or msg.body
        mail.send(to=[email], subject=msg.subject, body=msg.body, html=html)
