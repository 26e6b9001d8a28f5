"""The SLO dashboard's query form."""

from __future__ import annotations

from django import forms

from ops.slo.dashboard import WINDOWS
from ops.versions import version_validator


class DashboardForm(forms.Form):
    window = forms.ChoiceField(choices=[(key, key) for key in WINDOWS], required=False)
    stable = forms.CharField(max_length=64, required=False, validators=[version_validator])
    canary = forms.CharField(max_length=64, required=False, validators=[version_validator])
