"""`mlops-agent eval`: the real service against any OpenAI-compatible endpoint, scored.

loader, scenario, yaml_lines, timing   scenario files in, validated (file:line errors)
session, stage, world/                 what runs: MLflow, the proxy, services and their fixtures
play, namespace, webhook, bridge       one scenario run: deliver each step, observe it
proxy, observe, gate, records          what was seen: model traffic, turns, writes
scoring, judge, report, cli            scores, the optional judge, tables, JSON, compare
"""
