"""The model a use case calls: the one the policy resolves for it, and only if the policy allows it.

The policy file is checked when it loads (app/governance/policy.py, app/governance/watch.py), so
a disallowed model should never be resolved; this is the last gate before a request leaves for
the model server, identical for every use case, so that no path can call a model the policy
forbids.
"""

from __future__ import annotations

from app.governance import gate as governance
from app.governance import resolution
from app.governance.gate import Refusal
from app.governance.policy_schema import Policy
from app.runtime.services import Services


def allowlist(policy: Policy, use_case: str) -> list[str] | None:
    """The use case's `allowed_models`, else the defaults'; None: any model."""
    config = policy.use_cases.get(use_case)
    if config is not None and config.allowed_models is not None:
        return config.allowed_models
    return policy.defaults.allowed_models


def model_for(services: Services, decision: resolution.Decision) -> str:
    """The model to call for this decision; `Refusal` (code model_not_allowed) when the policy
    does not allow it for the decision's use case."""
    model = governance.model_for(services, decision)
    allowed = allowlist(services.policy, decision.use_case)
    if allowed is not None and model not in allowed:
        raise Refusal(
            f":no_entry: The AI policy does not allow the model `{model}` for "
            f"{decision.use_case or 'this use case'} (allowed: {', '.join(allowed) or 'none'}). "
            "Nothing was sent to the model; please tell a Steward admin.",
            "model_not_allowed",
        )
    return model
