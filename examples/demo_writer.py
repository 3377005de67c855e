"""Keeps a demo log directory busy, like the pods in the articles podlog was built from.

- ``containers/``: CRI-format container logs as kubelet writes them (JSON and
  plain payloads, a few partial lines, Java stack traces on stderr), rotated by
  rename every ~1 MB.
- ``app/1.log`` and ``app/2.log``: the classic counter pod (``i: date`` and
  ``date INFO i``), for the streaming sidecar and the agent sidecar.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


def main(root: str, rate: float = 20.0) -> None:
    base = Path(root)
    containers = base / "containers"
    app = base / "app"
    containers.mkdir(parents=True, exist_ok=True)
    app.mkdir(parents=True, exist_ok=True)
    cri = containers / ("web-5d8f7_shop_api-" + "0" * 63 + "1.log")
    rng = random.Random()
    i = 0
    while True:
        now = datetime.now(timezone.utc)
        ts = now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
        with open(cri, "a") as f:
            if i % 23 == 0:  # a Java stack trace on stderr: one record with `multiline: java`
                for line in _trace(i):
                    f.write(f"{ts} stderr F {line}\n")
            elif i % 7 == 0:
                f.write(f"{ts} stdout P a long line that the runtime split, part one, \n")
                f.write(f"{ts} stdout F part two (request {i})\n")
            elif i % 5 == 0:
                f.write(f"{ts} stderr F WARN slow request {i} took {rng.randint(300, 900)}ms\n")
            else:
                body = {"level": rng.choice(["info", "info", "debug", "error"]), "msg": "request handled",
                        "path": f"/api/items/{rng.randint(1, 999)}", "status": rng.choice([200, 200, 404, 500]),
                        "seq": i}
                f.write(f"{ts} stdout F {json.dumps(body)}\n")
        with open(app / "1.log", "a") as f:
            f.write(f"{i}: {now.ctime()}\n")
        with open(app / "2.log", "a") as f:
            f.write(f"{now.ctime()} INFO {i}\n")
        if cri.stat().st_size > 1_000_000:
            os.replace(cri, f"{cri}.{int(time.time())}")
        i += 1
        time.sleep(1 / rate)


def _trace(i: int) -> list[str]:
    return [f"Exception in thread \"worker-{i % 4}\" java.lang.IllegalStateException: order {i} has no items",
            "\tat com.shop.orders.OrderService.checkout(OrderService.java:88)",
            "\tat com.shop.api.OrderController.post(OrderController.java:41)",
            "Caused by: java.lang.NullPointerException: items",
            "\tat com.shop.orders.Cart.total(Cart.java:17)",
            "\t... 2 more"]


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo-data", float(sys.argv[2]) if len(sys.argv) > 2 else 20.0)
