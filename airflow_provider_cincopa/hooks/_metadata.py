"""
Metadata checked before it is sent: one set of rules for ``asset.set_meta`` and ``gallery.set_meta``.

Every rule here runs before the first byte of an upload when an operator is built (for literal
values) or rendered (for templated ones), and again in the hook for TaskFlow callers: metadata
that Cincopa would refuse after the upload would otherwise cost an asset without its metadata.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from airflow_provider_cincopa.exceptions import CincopaInputError, CincopaTagCommaError

#: ``asset.set_meta`` fields (wire-protocol page).
META_FIELDS = (
    "caption",
    "description",
    "long_description",
    "related_link_text",
    "related_link_url",
    "reference_id",
    "tags",
)

#: The most characters one call's metadata may take in the query string, URL-encoded (a guess).
#: Every parameter travels in the query string, POST or not (wire-protocol page), and Cincopa's
#: API runs on ASP.NET, whose default ``maxQueryString`` is 2048 characters: this budget leaves
#: the rest for the api_token, the rid and the separators. docs/bad-input.md says the same.
META_QUERY_BUDGET = 1500
#: The query-string limit the budget is taken from (ASP.NET's default ``maxQueryString``).
SERVER_QUERY_LIMIT = 2048


def is_literal(value: Any) -> bool:
    """
    True for a value written in the DAG file, False for one Airflow fills in later.

    A Jinja template and an XCom reference (``task.output``, a mapped argument) are checked after
    rendering, when their value exists.
    """
    # Duck-typed: Airflow's ResolveMixin (XComArg, mapped arguments) lives in an internal module
    # that moved between releases; these two methods are what it promises on every Airflow 3.
    if hasattr(value, "resolve") and hasattr(value, "iter_references"):
        return False
    return not (isinstance(value, str) and ("{{" in value or "{%" in value))


def meta_values(fields: Mapping[str, Any], *, allowed: Iterable[str], what: str) -> dict[str, str]:
    """
    The fields as Cincopa takes them (tags as one comma list), or a named refusal.

    ``None`` means "leave as is" and is left out. Refused, naming the field: an unknown field; a
    value that is not text (a dict, a list, bytes: Cincopa would store one of its keys, its last
    item, or mangled bytes); an empty value (the provider never sends an empty parameter, so an
    empty caption could not clear one: it would be a silent no-op); a tag holding a comma (tags
    are a comma list, so it would become two tags); and more than :data:`META_QUERY_BUDGET`
    characters in all, URL-encoded.

    :param fields: the metadata given.
    :param allowed: the fields the method takes.
    :param what: the method and the item, for messages (``asset.set_meta on asset 'AbC'``).
    :raises CincopaInputError: naming the field and what is wrong with it.
    """
    allowed = tuple(allowed)
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise CincopaInputError(f"{what}: Cincopa does not know {unknown}; use {list(allowed)}")
    try:
        values = {name: _text(name, value) for name, value in fields.items() if value is not None}
    except CincopaInputError as exc:
        raise type(exc)(f"{what}: {exc}") from None
    if not values:
        raise CincopaInputError(f"Nothing to set with {what}: pass at least one of {list(allowed)}")
    check_query_budget(values, what)
    return values


def check_query_budget(values: Mapping[str, str], what: str) -> None:
    """Refuse metadata longer than :data:`META_QUERY_BUDGET` URL-encoded, naming the longest field."""
    sizes = {name: len(urlencode({name: value})) for name, value in values.items()}
    total = sum(sizes.values()) + len(sizes) - 1
    if total > META_QUERY_BUDGET:
        longest = max(sizes, key=lambda name: sizes[name])
        raise CincopaInputError(
            f"{what}: {longest} is {sizes[longest]} characters URL-encoded (all metadata {total}); Cincopa "
            f"takes metadata in the query string, and the provider keeps one call's metadata within "
            f"{META_QUERY_BUDGET} characters (Cincopa's server is ASP.NET, whose default query-string limit "
            f"is {SERVER_QUERY_LIMIT}): shorten {longest}"
        )


def _text(name: str, value: Any) -> str:
    if name == "tags":
        return _tags(value)
    if name == "reference_id" and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a numeric id from a CMS is the same id as text
    if not isinstance(value, str):
        raise CincopaInputError(f"{name} must be text (a str), not a {type(value).__name__}: {_shown(value)}")
    if not value.strip():
        raise CincopaInputError(
            f"{name} is empty: the provider never sends an empty parameter, so this would not clear "
            f"the {name}; leave {name} out (None) to keep it as it is"
        )
    return value


def _tags(value: Any) -> str:
    # A comma string is Cincopa's own form (a list of tags in one parameter); a list gives each tag.
    if isinstance(value, str):
        tags = [tag.strip() for tag in value.split(",")]
    elif isinstance(value, (list, tuple)):
        tags = []
        for tag in value:
            if not isinstance(tag, str):
                raise CincopaInputError(f"every tag must be text (a str), not a {type(tag).__name__}: {_shown(tag)}")
            if "," in tag:
                raise CincopaTagCommaError(
                    f"tag {tag!r} holds a comma: Cincopa keeps tags as one comma list, so it would become "
                    f"{len(tag.split(','))} tags; give them as separate tags or drop the comma"
                )
            tags.append(tag.strip())
    else:
        raise CincopaInputError(
            f"tags must be a list of str or a comma string, not a {type(value).__name__}: {_shown(value)}"
        )
    tags = [tag for tag in tags if tag]
    if not tags:
        raise CincopaInputError(
            f"tags is empty ({_shown(value)}): the provider never sends an empty parameter, so this would not "
            "clear the tags; leave tags out (None) to keep them as they are"
        )
    return ",".join(tags)


def _shown(value: Any) -> str:
    # A short repr for a message: a 1 MB value would bury the message.
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."
