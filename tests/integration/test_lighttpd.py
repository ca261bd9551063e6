#!/usr/bin/env python3
"""test_lighttpd.py — real lighttpd on 127.0.0.1 with lighttpd/messenger.conf (mod_fastcgi, lighttpd starts the pool):
verification, signed events stored and answered through the fake Graph API, 403/404/405/413,
logs clean (tests/servers/webenv.py). TAP lines out."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
import webenv  # noqa: E402

webenv.main("lighttpd", webenv.lighttpd_env, "")
