#!/usr/bin/env python3
"""A complete kafka-proxy password plugin: users and passwords from the command line.

    kafka-proxy server ... --auth-local-enable \
        --auth-local-command /path/to/auth-plain.py \
        --auth-local-param alice=secret1 --auth-local-param bob=secret2

The proxy writes one JSON request per line on stdin and reads one JSON reply per line on
stdout (see PLUGINS in `man kafka-proxy`). Log to stderr; never log a password.
"""

import hmac
import json
import sys

USERS = dict(arg.split("=", 1) for arg in sys.argv[1:])


def handle(request):
    if request.get("method") != "check-password":
        return {"ok": False, "error": "unsupported method"}
    expected = USERS.get(request.get("username", ""))
    given = request.get("password", "")
    if expected is not None and hmac.compare_digest(expected.encode(), given.encode()):
        return {"ok": True, "identity": request["username"]}
    print(f"refused user {request.get('username')!r}", file=sys.stderr, flush=True)
    return {"ok": False, "error": "invalid username or password"}


for line in sys.stdin:
    try:
        request = json.loads(line)
        reply = handle(request)
    except ValueError:
        request, reply = {}, {"ok": False, "error": "request is not JSON"}
    reply["id"] = request.get("id", 0)
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
