"""What the default retry policy decides for each error, and which tasks get it (no Airflow database)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_cincopa.exceptions import (
    CincopaApiError,
    CincopaAuthError,
    CincopaRedirectError,
    CincopaSourceChangedError,
    CincopaTagCommaError,
    CincopaTlsError,
)
from airflow_provider_cincopa.hooks._transport import TransientError
from tests.support import airflow_version

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(airflow_version() < (3, 3), reason="retry_policy arrived in Airflow 3.3"),
]


@pytest.mark.parametrize(
    ("error", "action", "delay"),
    [
        (CincopaAuthError("403"), "fail", None),
        (CincopaTagCommaError("a,b"), "fail", None),
        (CincopaTlsError("bad certificate"), "fail", None),
        (CincopaRedirectError("302"), "fail", None),
        (CincopaSourceChangedError("file grew"), "default", None),
        (CincopaApiError("unknown rid"), "default", None),
        (TransientError("503"), "default", None),
        (TransientError("429", status_code=429, retry_after=7), "retry", timedelta(seconds=7)),
        (TransientError("429", status_code=429, retry_after=float("inf")), "retry", timedelta(hours=1)),
        (ValueError("not ours"), "default", None),
    ],
)
def test_decisions(error, action, delay):
    from airflow_provider_cincopa.operators._retry import CincopaRetryPolicy

    decision = CincopaRetryPolicy().evaluate(error, try_number=1, max_tries=4)
    assert (decision.action.value, decision.retry_delay) == (action, delay)


def test_operators_and_sensors_get_it_unless_their_author_chose():
    from airflow.sdk import ExceptionRetryPolicy

    from airflow_provider_cincopa.operators._retry import CincopaRetryPolicy
    from airflow_provider_cincopa.operators.galleries import CincopaCreateGalleryOperator
    from airflow_provider_cincopa.sensors.cincopa import CincopaAssetSyncedSensor

    own = ExceptionRetryPolicy(rules=[])
    assert isinstance(CincopaCreateGalleryOperator(task_id="g", name="n").retry_policy, CincopaRetryPolicy)
    assert isinstance(CincopaAssetSyncedSensor(task_id="s", rid="r").retry_policy, CincopaRetryPolicy)
    assert CincopaAssetSyncedSensor(task_id="s2", rid="r", retry_policy=own).retry_policy is own
    assert CincopaCreateGalleryOperator(task_id="g2", name="n", retry_policy=None).retry_policy is None
    default_args = {"retry_policy": own}
    assert CincopaCreateGalleryOperator(task_id="g3", name="n", default_args=default_args).retry_policy is own
