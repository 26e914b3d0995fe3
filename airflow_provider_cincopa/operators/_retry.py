"""
The retry policy the provider's operators and sensors use by default on Airflow 3.3+.

Without it a wrong token or a bad argument spends every task retry, each after the task's
``retry_delay``, before the task fails with the error it had on its first try; and a task that
Cincopa rate limited retries after the task's ``retry_delay`` whatever Cincopa asked for. Under
:class:`CincopaRetryPolicy`:

- :data:`FAIL_AT_ONCE` errors fail the task on the try that raised them, whatever ``retries``
  says: a retry would send the same token or the same input and get the same answer;
- an error that carries the server's ``Retry-After`` (HTTP 429, or a 503 that says when, which
  the hook's own retries did not outlast) retries after that many seconds (at most
  :data:`MAX_TASK_RETRY_AFTER`) instead of ``retry_delay``; the task's ``retries`` still bound it;
- anything else follows the task's ``retries`` and ``retry_delay`` as before.

A DAG author's own ``retry_policy`` (the argument or ``default_args``; ``None`` too, which means
Airflow's plain behaviour) wins. Airflow 3.0 to 3.2 have no retry policy: there the operators
pass nothing and behave as they always did.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_cincopa._compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_cincopa.exceptions import (
    CincopaAuthError,
    CincopaError,
    CincopaGalleryExistsError,
    CincopaInputError,
    CincopaRedirectError,
    CincopaSourceChangedError,
    CincopaTlsError,
)

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.definitions.retry_policy import RetryPolicy

#: Errors a retry cannot fix: the token (HTTP 403: wrong, revoked, lacking a permission), the
#: task's input (every ``CincopaInputError``: a missing file, a bad argument, a version the asset
#: lacks, an empty token in the connection...), TLS that does not verify, a redirect (the
#: connection's host is wrong: none is ever followed) and a gallery name taken under
#: ``if_exists="fail"``. ``CincopaSourceChangedError`` is an input error but not among them: the
#: file was being written while it was read, and the next try reads it as it is then.
FAIL_AT_ONCE: tuple[type[CincopaError], ...] = (
    CincopaAuthError,
    CincopaInputError,
    CincopaTlsError,
    CincopaRedirectError,
    CincopaGalleryExistsError,
)
#: Errors that look like :data:`FAIL_AT_ONCE` ones but keep the task's usual retries.
RETRY_AS_USUAL: tuple[type[CincopaError], ...] = (CincopaSourceChangedError,)
#: The longest wait a ``Retry-After`` can set for the next try, in seconds: a proxy's wrong header
#: must not park a task for days.
MAX_TASK_RETRY_AFTER = 3600.0


def server_delay(exception: BaseException) -> timedelta | None:
    """
    The wait the server asked for before the failed call is tried again, if the error carries one.

    :param exception: what the task raised; the hook's transient errors keep ``Retry-After`` (in
        seconds) as ``retry_after``.
    """
    seconds = getattr(exception, "retry_after", None) if isinstance(exception, CincopaError) else None
    if not isinstance(seconds, (int, float)) or math.isnan(seconds):
        return None
    return timedelta(seconds=min(max(float(seconds), 0.0), MAX_TASK_RETRY_AFTER))


if AIRFLOW_V_3_3_PLUS:
    from airflow.sdk.definitions.retry_policy import (
        ExceptionRetryPolicy,
        RetryAction,
        RetryDecision,
        RetryRule,
    )

    class CincopaRetryPolicy(ExceptionRetryPolicy):
        """
        :data:`FAIL_AT_ONCE` errors fail at once; a server's ``Retry-After`` sets the next try's delay.

        Usable on any task of a DAG (``retry_policy=CincopaRetryPolicy()``), TaskFlow ones that
        call the hook included. Airflow 3.3+ only.
        """

        def __init__(self) -> None:
            super().__init__(
                rules=[
                    RetryRule(exception=list(RETRY_AS_USUAL), action=RetryAction.DEFAULT),
                    RetryRule(
                        exception=list(FAIL_AT_ONCE),
                        action=RetryAction.FAIL,
                        reason="Cincopa refused the token or the task's input: a retry would get the same answer",
                    ),
                ]
            )

        def evaluate(
            self, exception: BaseException, try_number: int, max_tries: int, context: Any = None
        ) -> RetryDecision:
            """A matching rule first, then the server's ``Retry-After``, then the task's own retries."""
            decision = super().evaluate(exception, try_number, max_tries, context)
            if decision.action is not RetryAction.DEFAULT:
                return decision
            delay = server_delay(exception)
            if delay is None:
                return decision
            return RetryDecision.retry(
                delay=delay, reason=f"Cincopa asked to wait {delay.total_seconds():g} s (Retry-After)"
            )


def default_retry_policy() -> RetryPolicy | None:
    """A :class:`CincopaRetryPolicy` on Airflow 3.3+, None below (no retry policy exists there)."""
    return CincopaRetryPolicy() if AIRFLOW_V_3_3_PLUS else None


def use_default_retry_policy(task: BaseOperator, init_kwargs: dict[str, Any]) -> None:
    """
    Give ``task`` the provider's retry policy unless its author chose one (``None`` included).

    Called at the end of an operator's ``__init__``, after ``BaseOperator`` took what it knows:
    below 3.3 it would refuse ``retry_policy`` as an unknown argument, so nothing is passed there.

    :param task: the operator or sensor.
    :param init_kwargs: the keyword arguments its ``__init__`` got; Airflow hands the merged
        ``default_args`` (the DAG's and the task's) in as ``default_args``.
    """
    policy = default_retry_policy()
    if policy is None or "retry_policy" in init_kwargs:
        return
    if "retry_policy" in (init_kwargs.get("default_args") or {}):
        return
    task.retry_policy = policy
