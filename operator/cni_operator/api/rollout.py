"""spec.rollout: how updates of an installed CNI roll across the nodes (session/rollout.py acts on it)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .base import _Model

ROLLOUT_DEADLINE_WORDS = ("rollout.progressDeadlineSeconds must be at least rollout.soakSeconds: the canary's soak "
                          "alone would pass the deadline")


def _no_schema_default(schema: dict) -> None:
    schema.pop("default", None)


class RolloutOptions(_Model):
    """How updates of an installed CNI roll across the nodes: canary nodes first, a soak, then batches, each gated
    on the new pods' health, and a rollback to the previous render when a gate fails (docs/operations.md)."""

    # A count 1..1000 or a percentage 1%..100%: 0 would never replace a pod. Unset, it is the provider's upstream
    # value, which catalog.resolve fills in (it tells unset from set by model_fields_set): so the CRD must not
    # default it, or the API server would store 1 in every ClusterNetwork. The 1 here is only what an unresolved
    # RolloutOptions holds (Canal's upstream value).
    max_unavailable: (
        Annotated[int, Field(ge=1, le=1000)]
        | Annotated[str, Field(pattern=r"^(100|[1-9][0-9]?)%$", max_length=4)]
    ) = Field(
        1, description="At most this many nodes (a count or a percentage such as '10%') are without a Ready CNI "
        "pod while an update rolls, canary included. Unset: the provider's upstream value, 1 for Canal and 10% for "
        "the AWS VPC CNI (manifests/catalog.yaml).",
        json_schema_extra=_no_schema_default,
    )
    canary: (
        Annotated[int, Field(ge=1, le=1000)]
        | Annotated[str, Field(pattern=r"^(100|[1-9][0-9]?)%$", max_length=4)]
    ) = Field(
        1, description="Nodes updated first (a count or a percentage such as '5%'); more than the nodes there are "
        "means all of them (status.rollout.canaryNodes lists them)."
    )
    soak_seconds: int = Field(
        30, ge=0, le=86400, description="Seconds the canary pods must stay Ready, without a restart or a problem, "
        "before the other nodes are updated."
    )
    progress_deadline_seconds: int = Field(
        600, ge=1, le=86400, description="Seconds an update may take from its start until every node runs it; past "
        "it, the update has failed. At least soakSeconds.")
    auto_rollback: bool = Field(
        True, description="When an update fails (a gate or the deadline), apply the previous version again; false "
        "stops where it is and reports UpgradeFailed."
    )

    @field_validator("progress_deadline_seconds")
    @classmethod
    def _deadline_covers_the_soak(cls, value: int, info: ValidationInfo) -> int:
        # rules.py says the same at admission, on the same field.
        if value < info.data.get("soak_seconds", 0):
            raise ValueError(ROLLOUT_DEADLINE_WORDS)
        return value

    @model_validator(mode="after")
    def _default_deadline_covers_the_soak(self) -> RolloutOptions:
        if self.progress_deadline_seconds < self.soak_seconds:  # a long soak against the default deadline
            raise ValueError(ROLLOUT_DEADLINE_WORDS)
        return self
