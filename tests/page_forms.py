"""Form bodies the page tests post, written once."""

from __future__ import annotations


def settings_form(**overrides: str) -> dict[str, str]:
    """A valid project settings form; override fields to make it otherwise."""
    data = {
        "name": "Sentiment",
        "description": "",
        "time_zone": "UTC",
        "overlap": "2",
        "consensus": "unanimous",
        "consensus_k": "",
        "review_policy": "disagreements",
        "audit_sample": "0",
        "lease_minutes": "30",
        "queue_order": "import",
        "queue_seed": "0",
    }
    data.update(overrides)
    return data
