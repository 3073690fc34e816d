"""The Matrix bridge: the same conversations, allowlist and write gate as Slack, over a
homeserver the team runs itself (matrix-nio, unencrypted rooms)."""

from agent.chat.matrix.bridge import MatrixBridge, MatrixBridgeError

__all__ = ["MatrixBridge", "MatrixBridgeError"]
