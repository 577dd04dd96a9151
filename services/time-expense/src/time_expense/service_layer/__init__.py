"""Use cases: one handler per event, each in the transaction of the message it handles."""
