"""The saga runner: apply an event to an opportunity's saga, carry out what it decides, persist.

**How steps chain.** One handling runs the saga forward as far as it can: the decision's
commands are carried out against the systems one after another, each answer (a step's result,
its refusal, what blocks it) decided at once, and the commands of that decision carried out in
turn, until the saga is settled, held (waiting for a key, failed with a typed reason) or out
of work. The saga, its step visits, its log, the read model and the announcements (outbox)
are then written in the handling's one transaction.

**A crash anywhere** (SIGKILL between two writes, or between the last write and the commit)
leaves the saga as the last committed transaction left it; the message is delivered again,
decided again from that state, and ``work_of`` re-issues the same writes under the same
idempotency keys, which each system answers with the record it already made. Announcements
are only ever written with the state that decided them, so none is lost or doubled. A system
that is down (``SystemUnavailable``) rolls the handling back and holds the lane; the runtime
retries it when the system answers again.

The runner (``_run``) carries out a decision's commands: the writes and reads in the systems
(``_steps``) and the announcements, built as contract envelopes (``_announcements``), with the
canonical ``Project`` both make of a saga (``_project``).
"""

from project_sync.service_layer.runner._announcements import SERVICE
from project_sync.service_layer.runner._run import Clock, SagaRunner

__all__ = ["SERVICE", "Clock", "SagaRunner"]
