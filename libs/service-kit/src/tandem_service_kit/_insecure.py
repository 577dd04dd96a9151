"""Settings fail closed: a service refuses to start with a door left open.

An api with no way to authenticate anyone answers 401 to every caller, which looks like a
working service to a probe and to nobody else; a source with an empty webhook secret refuses
every webhook. Both are settings mistakes an operator should learn at start, not from a
sender's retries. ``TANDEM_DEV_MODE=true`` lets a development run start anyway, with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from tandem_service_kit._service import InboundSource
from tandem_service_kit._settings import ServiceSettings
from tandem_service_kit.errors import InsecureSettingsError

__all__ = ["refuse_insecure"]

logger = logging.getLogger(__name__)


def _problems(settings: ServiceSettings, sources: Iterable[InboundSource]) -> list[str]:
    found = []
    key_sources = (settings.jwt_jwks_url, settings.jwt_public_key, settings.jwt_secret)
    if all(source is None for source in key_sources) and not settings.api_keys:
        found.append(
            "no authentication is configured (set TANDEM_JWT_JWKS_URL, TANDEM_JWT_PUBLIC_KEY, "
            "TANDEM_JWT_SECRET or TANDEM_API_KEYS)"
        )
    for source in sources:
        if source.inbound.webhook_subjects and not source.webhook_secret.get_secret_value():
            found.append(f"{source.system} instance {source.instance!r} has no webhook secret")
    return found


def refuse_insecure(settings: ServiceSettings, sources: Iterable[InboundSource] = ()) -> None:
    """Raise ``InsecureSettingsError`` naming every open door, unless in development mode."""
    problems = _problems(settings, sources)
    if not problems:
        return
    if settings.dev_mode:
        for problem in problems:
            logger.warning("development mode: starting although %s", problem)
        return
    raise InsecureSettingsError(
        "refusing to start: " + "; ".join(problems) + " (TANDEM_DEV_MODE=true allows it)"
    )
