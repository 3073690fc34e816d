"""The git skill's gated write, as the guard ledger names it."""

GIT_CHANGE = "git_change"
