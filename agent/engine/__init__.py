"""The path of a turn: inbox, turns, their steps and log, rendering, the outbox."""
