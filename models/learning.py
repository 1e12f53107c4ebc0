"""What retraining works with: past tickets with their labels, and trained model versions as
the registry knows them (the artifacts themselves are files)."""

from __future__ import annotations

from typing import Any

import msgspec

EMPTY = msgspec.Raw(b"{}")


class ModelVersion(msgspec.Struct, frozen=True, kw_only=True):
    task: str                            # topic | priority | sentiment | risk
    version: str                         # the artifact manifest's version id
    path: str                            # artifact directory, relative to <data_dir>/models
    sha256: str                          # of weights.npz when registered; loading re-checks it
    created: str                         # ISO 8601 UTC, from the manifest
    trained_by: str = ""
    trained_at: float = 0.0
    job_id: str = ""
    promoted_by: str = ""                # the last time it became current
    promoted_at: float = 0.0
    retired_by: str = ""                 # the last time another version replaced it
    retired_at: float = 0.0
    state: str = "candidate"             # candidate | current | previous
    manifest: msgspec.Raw = EMPTY        # the artifact's manifest.json, verbatim
    evaluation: msgspec.Raw = EMPTY      # candidate vs the model current at training time

    def fields(self) -> dict[str, Any]:
        """The registry's own fields, without the two verbatim JSON documents."""
        return {f: getattr(self, f) for f in self.__struct_fields__
                if f not in ("manifest", "evaluation")}


class PastTicket(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One labelled past ticket: imported from another help desk's export, or a resolved
    Deskgate ticket (labels an agent confirmed or corrected). An empty label is unknown."""

    source: str                          # "zendesk", "freshdesk", "csv", …, or "deskgate"
    source_id: str                       # the ticket id in that source (dedupe key)
    text: str
    subject: str = ""
    topic: str = ""
    priority: str = ""                   # P1..P4
    sentiment: str = ""                  # negative | neutral | positive
    risk: str = ""                       # "none" or ";"-separated risk categories
    corrected: bool = False              # an agent changed triage's label(s)

    @property
    def key(self) -> str:
        return f"{self.source}:{self.source_id}"

    def label(self, task: str) -> str:
        return str(getattr(self, task))
