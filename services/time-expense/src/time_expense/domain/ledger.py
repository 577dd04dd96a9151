"""What each PSA decision about a time entry means for the ERP: post, reverse, or nothing.

Posted time is never edited in place (DOMAIN.md §4.2). An entry's ``EntryLedger`` remembers what
is posted for it; a decision (approved, rejected, adjusted) yields the commands that make the ERP
agree with the PSA: a ``Post`` for newly approved time, a ``Reverse`` of the posted line when an
approval is withdrawn, both when approved time is adjusted. Decisions arrive in subject-version
order (the inbox skips stale ones); a decision about a version already handled yields nothing.

Idempotency keys are derived from the entry and the version, so a command re-issued after a crash
is the same write to the ERP.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from tandem_contracts.entities import TimeEntry

__all__ = ["EntryLedger", "Post", "Reverse", "Stage", "adjusted", "approved", "rejected"]


class Stage(StrEnum):
    """Where an entry stands between the PSA and the ERP."""

    APPROVED = "approved"  # approved, not yet posted (validating, waiting or queued)
    POSTED = "posted"
    REJECTED = "rejected"  # rejected before it was ever posted
    REVERSED = "reversed"  # was posted, then rejected: the reversal is posted


@dataclass(frozen=True)
class Post:
    """Post ``entry`` to the ERP under ``key``."""

    entry: TimeEntry
    version: int

    @property
    def key(self) -> str:
        """The idempotency key of this posting."""
        return f"time:{self.entry.id}:v{self.version}"


@dataclass(frozen=True)
class Reverse:
    """Reverse the posting made under ``posted_key`` (of ``entry``)."""

    entry: TimeEntry
    posted_key: str
    version: int

    @property
    def key(self) -> str:
        """The idempotency key of this reversal."""
        return f"{self.posted_key}:reversed-at-v{self.version}"


Command = Post | Reverse


@dataclass(frozen=True)
class EntryLedger:
    """One time entry's state: the last version decided, what is current, and what is posted."""

    entry_id: str
    version: int
    stage: Stage
    current: TimeEntry | None
    posted: Post | None = None

    def mark_posted(self, post: Post) -> EntryLedger:
        """Record that ``post`` reached the ERP."""
        return replace(self, stage=Stage.POSTED, posted=post)

    def mark_reversed(self) -> EntryLedger:
        """Record that the posted line's reversal reached the ERP."""
        stage = Stage.REVERSED if self.stage is Stage.REJECTED else self.stage
        return replace(self, stage=stage, posted=None)


def approved(
    ledger: EntryLedger | None, entry: TimeEntry, version: int
) -> tuple[EntryLedger, list[Command]]:
    """The entry was approved (again, possibly changed) at ``version``."""
    if ledger is not None and version <= ledger.version:
        return ledger, []
    commands: list[Command] = []
    if ledger is not None and ledger.posted is not None:
        if ledger.posted.entry == entry:
            return replace(ledger, version=version, current=entry), []
        commands.append(Reverse(ledger.posted.entry, ledger.posted.key, version))
    commands.append(Post(entry, version))
    posted = ledger.posted if ledger is not None else None
    return EntryLedger(entry.id, version, Stage.APPROVED, entry, posted), commands


def rejected(
    ledger: EntryLedger | None, entry_id: str, version: int
) -> tuple[EntryLedger, list[Command]]:
    """The entry was rejected at ``version``, possibly after it was approved and posted."""
    if ledger is None:
        return EntryLedger(entry_id, version, Stage.REJECTED, None), []
    if version <= ledger.version:
        return ledger, []
    commands: list[Command] = []
    if ledger.posted is not None:
        commands.append(Reverse(ledger.posted.entry, ledger.posted.key, version))
    return replace(ledger, version=version, stage=Stage.REJECTED, current=None), commands


def adjusted(
    ledger: EntryLedger | None,
    entry_id: str,
    replacement: TimeEntry | None,
    version: int,
    replacement_ledger: EntryLedger | None = None,
) -> tuple[list[EntryLedger], list[Command]]:
    """Approved time was adjusted at ``version``: withdrawn, or replaced by ``replacement``.

    A replacement under the same id is a re-approval; under a new id it is a new entry, and the
    original is withdrawn. Answers every ledger touched (original first) and the commands.
    """
    if replacement is not None and replacement.id == entry_id:
        same, commands = approved(ledger, replacement, version)
        return [same], commands
    original, commands = rejected(ledger, entry_id, version)
    if replacement is None:
        return [original], commands
    new, posting = approved(replacement_ledger, replacement, version)
    return [original, new], commands + posting
