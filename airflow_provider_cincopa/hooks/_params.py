"""Parameter helpers shared by the hook's API families (``_assets``, ``_account``, ...)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow_provider_cincopa.exceptions import CincopaInputError


def clean_params(params: dict[str, Any]) -> dict[str, Any]:
    """Leave out ``None`` and empty values: Cincopa reads an empty parameter as a value."""
    return {key: value for key, value in params.items() if value is not None and value != ""}


def comma_list(value: str | list[str] | tuple[str, ...] | None) -> str | None:
    """A list or a comma string as Cincopa's comma list, without stray spaces."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    return ",".join(str(item).strip() for item in items if str(item).strip())


def required(value: Any, name: str) -> Any:
    """``value``, or a :class:`CincopaInputError` naming ``name`` when it is empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise CincopaInputError(f"{name} is required and was empty")
    return value


def check_positive(value: float | None, name: str, *, allow_zero: bool = True) -> None:
    """Refuse a negative (or, with ``allow_zero=False``, zero) number, naming it."""
    if value is not None and (value < 0 or (value == 0 and not allow_zero)):
        raise CincopaInputError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def rid_list(rids: str | Iterable[str] | None, name: str = "rids") -> list[str]:
    """
    One rid, a comma string, or any iterable of rids (an XCom list) as a list of rids.

    The one reader of a list of rids, for the hook and the gallery operators alike.

    :param rids: what the caller passed (or what a templated field rendered to).
    :param name: the argument's name, for the error.
    :raises CincopaInputError: it names no rid.
    """
    if rids is None:
        items: list[str] = []
    elif isinstance(rids, str):
        items = rids.split(",")
    else:
        items = [str(rid) for rid in rids]
    found = [rid.strip() for rid in items if rid and rid.strip()]
    if not found:
        raise CincopaInputError(f"{name} is required: give one asset rid or a list of them, got {rids!r}")
    return found
