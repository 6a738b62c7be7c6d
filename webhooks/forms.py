from django import forms

from webhooks.services import ORDER_EVENT_TYPES


class EndpointForm(forms.Form):
    url = forms.CharField(max_length=500, label="URL",
                          widget=forms.URLInput(attrs={"placeholder": "https://erp.example/hooks"}))
    description = forms.CharField(max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        choices=[(t, t) for t in ORDER_EVENT_TYPES], widget=forms.CheckboxSelectMultiple,
        label="Events")
