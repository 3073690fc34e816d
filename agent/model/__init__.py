"""The model side of the service: the embedded model (weights, process, server) and the
model path every request to any model takes (a stable prompt, repaired tool calls, a stop
for repeated failing calls)."""
