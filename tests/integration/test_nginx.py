#!/usr/bin/env python3
"""test_nginx.py — real nginx on 127.0.0.1 with nginx/messenger.conf and the spawn-fcgi pool of apache/messenger-fcgi.service:
verification, signed events stored and answered through the fake Graph API, 403/404/405/413,
logs clean (tests/servers/webenv.py). TAP lines out."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
import webenv  # noqa: E402

webenv.main("nginx", webenv.nginx_env, "/hooks", layer413="web server")
