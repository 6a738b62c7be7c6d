from django import forms


class ConnectShopifyForm(forms.Form):
    shop_domain = forms.CharField(label="Shop address", max_length=255,
                                  widget=forms.TextInput(attrs={"placeholder":
                                                                "your-store.myshopify.com"}))
    access_token = forms.CharField(label="Admin API access token", max_length=500,
                                   widget=forms.PasswordInput(render_value=False))
    webhook_secret = forms.CharField(label="Webhook signing secret", max_length=500,
                                     widget=forms.PasswordInput(render_value=False))
    name = forms.CharField(label="Name in PodHub", max_length=120, required=False)


class InstallShopifyForm(forms.Form):
    shop_domain = forms.CharField(label="Shop address", max_length=255,
                                  widget=forms.TextInput(attrs={"placeholder":
                                                                "your-store.myshopify.com"}))


class ManualStoreForm(forms.Form):
    name = forms.CharField(label="Name", max_length=120)


class ConnectWooCommerceForm(forms.Form):
    url = forms.CharField(label="Store address", max_length=255,
                          widget=forms.TextInput(attrs={"placeholder":
                                                        "https://shop.example.com"}))
    consumer_key = forms.CharField(label="Consumer key", max_length=200,
                                   widget=forms.PasswordInput(render_value=False,
                                                              attrs={"placeholder": "ck_…"}))
    consumer_secret = forms.CharField(label="Consumer secret", max_length=200,
                                      widget=forms.PasswordInput(render_value=False,
                                                                 attrs={"placeholder": "cs_…"}))
    webhook_secret = forms.CharField(
        label="Webhook secret (leave empty: PodHub makes one)", max_length=500, required=False,
        widget=forms.PasswordInput(render_value=False))
    name = forms.CharField(label="Name in PodHub", max_length=120, required=False)
