"""The image's HEALTHCHECK: exit 0 when the service's /readyz answers 200."""

import os
import sys
import urllib.request

host = os.environ.get("MLOPS_HOST", "127.0.0.1")
if host in ("0.0.0.0", "::", ""):
    host = "127.0.0.1"  # listening everywhere: ask over loopback
url = f"http://{host}:{os.environ.get('MLOPS_PORT', '8080')}/readyz"
try:
    with urllib.request.urlopen(url, timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:  # any failure is "unhealthy"; say why in the health log
    print(f"{url}: {exc}", file=sys.stderr)
    sys.exit(1)
