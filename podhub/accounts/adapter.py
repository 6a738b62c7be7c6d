from allauth.account.adapter import DefaultAccountAdapter
from django.urls import reverse


class AccountAdapter(DefaultAccountAdapter):
    def get_login_redirect_url(self, request):
        # An invitation followed before signing in is accepted right after it.
        pending = request.session.get("pending_invitation")
        if pending:
            return reverse("workspaces:invitation", kwargs={"token": pending})
        return super().get_login_redirect_url(request)

    def send_mail(self, template_prefix, email, context):
        context.setdefault("product_name", "PodHub")
        super().send_mail(template_prefix, email, context)
