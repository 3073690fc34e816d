"""What the supervisor (`agent/`) and the skills (`mcp_servers/`) share.

The guard ledger, the sqlite convention, the skill environment contract, the
wall-clock rules, the gated-proposal client and the sweeps table's shape. It
imports neither side: both stand on it.
"""
