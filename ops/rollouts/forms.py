"""Forms of the staff console: starting a rollout and confirming an action on one."""

from __future__ import annotations

from typing import Any

from django import forms

from ops.models import RolloutPlan
from ops.rollouts.drivers import DRIVERS
from ops.rollouts.validators import validate_image
from ops.versions import version_validator


class StartRolloutForm(forms.Form):
    version = forms.CharField(
        max_length=64,
        validators=[version_validator],
        help_text="The release to roll out, e.g. 1.4.0.",
    )
    image = forms.CharField(
        max_length=300,
        required=False,
        validators=[validate_image],
        help_text="Container image; blank: portal-api:v<version>.",
    )
    baseline_version = forms.CharField(
        label="Stable version",
        max_length=64,
        required=False,
        validators=[version_validator],
        help_text="The version it replaces, for the dashboard and the report.",
    )
    plan = forms.ModelChoiceField(queryset=RolloutPlan.objects.all(), empty_label=None)
    driver = forms.ChoiceField(
        choices=[(name, name) for name in DRIVERS],
        help_text="record only records the weight; nginx rewrites the weighted upstream; "
        "aws-alb sets the listener's target group weights.",
    )
    force_reason = forms.CharField(
        label="Reason to force",
        max_length=500,
        required=False,
        help_text="Only for a release that is the version stable runs, or older than it (a "
        "downgrade): why it must go out anyway. It goes into the event log and the report.",
    )

    accept_migration_risk = forms.CharField(
        label="Reason to accept migration risk",
        max_length=500,
        required=False,
        help_text="Only when the migration gate refuses the release's migrations: why it must "
        "go out anyway. It goes into the event log and the report; stable's smoke on the "
        "migrated database still runs before any traffic moves.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        default = RolloutPlan.objects.filter(is_default=True).first()
        if default is not None:
            self.fields["plan"].initial = default.pk


class ActionForm(forms.Form):
    """Every action posts the phase the operator saw, so a stale page acts on nothing."""

    SAY_WHY = "Say why: the reason goes into the rollout's event log."

    reason = forms.CharField(
        max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    expected_phase = forms.IntegerField(min_value=0, required=False, widget=forms.HiddenInput)
    public_note = forms.CharField(
        label="Public note",
        max_length=300,
        required=False,
        help_text="Optional: what the public status page says (instead of a neutral sentence). "
        "The reason above stays internal.",
    )

    def __init__(
        self, *args: Any, reason_required: bool = False, phase_required: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.reason_required = reason_required
        # Advancing skips judgement of whatever phase the rollout is in by then: the page
        # must say which phase the person judged.
        self.fields["expected_phase"].required = phase_required
        if reason_required:
            self.fields["reason"].required = True
            self.fields["reason"].error_messages["required"] = self.SAY_WHY
            self.fields["reason"].help_text = "Required: it goes into the rollout's event log."

    def clean_reason(self) -> str:
        reason: str = self.cleaned_data.get("reason", "").strip()
        if self.reason_required and not reason:
            raise forms.ValidationError(self.SAY_WHY)
        return reason
