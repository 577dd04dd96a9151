"""The service kit's exception tree.

ServiceKitError
├── InsecureSettingsError
├── MigrationError
│   └── MigrationChecksumError
└── AuthenticationError
    └── SigningKeysUnavailableError
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "InsecureSettingsError",
    "MigrationChecksumError",
    "MigrationError",
    "ServiceKitError",
    "SigningKeysUnavailableError",
]


class ServiceKitError(Exception):
    """Base of every error raised by ``tandem_service_kit``."""


class InsecureSettingsError(ServiceKitError):
    """The settings would leave a door open (no authentication, an empty webhook secret); the
    service refuses to start unless ``TANDEM_DEV_MODE`` says it is a development run."""


class MigrationError(ServiceKitError):
    """The migrations could not be applied (bad directory, duplicate label, failing SQL)."""


class MigrationChecksumError(MigrationError):
    """A migration already applied has changed on disk since; ``migration_id`` names it."""

    def __init__(self, migration_id: str, recorded: str, current: str) -> None:
        super().__init__(
            f"migration {migration_id} was applied with checksum {recorded[:12]}… but the file "
            f"now has {current[:12]}…; write a new migration instead of editing an applied one"
        )
        self.migration_id = migration_id
        self.recorded = recorded
        self.current = current


class AuthenticationError(ServiceKitError):
    """The caller's credentials are missing or invalid (answered with 401)."""


class SigningKeysUnavailableError(AuthenticationError):
    """The JWKS endpoint could not be reached, so no token can be verified (answered with 503)."""
