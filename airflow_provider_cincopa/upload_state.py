"""
An upload's resume state in Airflow's ``task_state_store``, sealed so that nobody can edit it.

Anyone who may read task instances reads that store through Airflow's REST API, and anyone who
may edit them writes it. The state holds the upload URL, whose ``hash`` lets anyone upload into
the account, and the rid a cleared task hands downstream. So the whole state is sealed with
Airflow's Fernet key (encrypted *and* authenticated) together with what it belongs to: the
connection, its API URL, the task instance and the source. A state that does not open, or was
sealed for anything else, is discarded with a warning and the upload starts over: an edited URL
cannot redirect the file, an edited or transplanted rid cannot be handed on.

Without a usable Fernet key nothing is saved and nothing found is trusted: crash-resume is off for
that task (said once in its log), and the upload itself goes on as usual.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_provider_cincopa.hooks.upload import ResumeState

if TYPE_CHECKING:
    from airflow.sdk.crypto import FernetProtocol

#: Key of the state in ``task_state_store``; renaming it breaks in-flight retries.
STATE_KEY = "cincopa_upload"
#: Marks a value this provider sealed; an older plain state lacks it and is discarded.
FORMAT = "cincopa-sealed-v1"


class SealedUploadState:
    """
    Load and save one task's :class:`ResumeState`, sealed with Airflow's Fernet key.

    :param store: the task's ``task_state_store``, or None where Airflow has none (< 3.3).
    :param binding: what the state belongs to; a state sealed with any other binding is discarded.
    :param log: the task's logger (stdlib or structlog: only ``info`` and ``warning`` are called).
    """

    def __init__(self, store: Any, binding: dict[str, Any], log: Any) -> None:
        self.store = store
        self.binding = binding
        self.log = log
        self._fernet = _usable_fernet(log) if store is not None else None
        if store is None:
            log.info("No task_state_store (Airflow < 3.3): a retry will restart the upload cleanly")

    def __repr__(self) -> str:
        # Only whether states are kept: the binding and the store's value stay out of printouts.
        return f"SealedUploadState(key={STATE_KEY!r}, enabled={self.enabled})"

    __str__ = __repr__

    @property
    def enabled(self) -> bool:
        """True when states are saved and trusted (a store and a usable Fernet key)."""
        return self._fernet is not None

    def load(self) -> ResumeState | None:
        """The saved state when it verifies and is this task's; None (with a warning) otherwise."""
        if self.store is None:
            return None
        raw = self.store.get(STATE_KEY)
        if raw is None:
            return None
        if self._fernet is None:
            self.log.warning("Ignoring the saved upload state of this task: without a Fernet key it cannot be verified")
            return None
        state, why = self._open(self._fernet, raw)
        if state is None:
            self.log.warning("Discarding the saved upload state of this task: %s; starting a new upload", why)
        return state

    def save(self, state: ResumeState) -> None:
        """Seal and store ``state`` (nothing without a usable key)."""
        if self._fernet is None:
            return
        payload = json.dumps({"binding": self.binding, "state": state.to_json()}, separators=(",", ":"))
        sealed = self._fernet.encrypt(payload.encode()).decode()
        self.store.set(STATE_KEY, {"format": FORMAT, "sealed": sealed})

    def _open(self, fernet: FernetProtocol, raw: Any) -> tuple[ResumeState | None, str]:
        if not isinstance(raw, dict) or raw.get("format") != FORMAT or not isinstance(raw.get("sealed"), str):
            return None, "it is not sealed (edited through the API, or saved by an older provider version)"
        try:
            data = json.loads(fernet.decrypt(raw["sealed"].encode()))
        except Exception:  # InvalidToken, or not JSON inside: either way it cannot be trusted
            return None, "it does not verify with this deployment's Fernet key (edited, or sealed with another key)"
        if not isinstance(data, dict) or data.get("binding") != self.binding:
            return None, "it was sealed for another task instance, connection or source"
        state = ResumeState.from_json(data.get("state"))
        if state is None:
            return None, "it does not hold an upload state"
        return state, ""


def _usable_fernet(log: Any) -> FernetProtocol | None:
    try:
        from airflow.sdk.crypto import get_fernet

        fernet = get_fernet()
    except Exception as exc:  # an unusable key (or config read too early) must not fail the upload
        log.warning(
            "Crash-resume is off for this upload: Airflow's Fernet key is unusable (%s); a retry will start over",
            type(exc).__name__,
        )
        return None
    if not fernet.is_encrypted:
        log.warning(
            "Crash-resume is off for this upload: no Fernet key is configured ([core] fernet_key), and the "
            "upload URL is a secret that must not be stored in plain text; a retry will start over"
        )
        return None
    return fernet
