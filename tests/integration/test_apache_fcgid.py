#!/usr/bin/env python3
"""test_apache_fcgid.py — real Apache 2.4 with apache/fcgid-vhost.conf on 127.0.0.1:
verification, signed events stored and answered through the fake Graph API, 403/404/405/413,
logs clean (tests/servers/webenv.py). TAP lines out."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
import webenv  # noqa: E402

webenv.main("apache fcgid", lambda: webenv.apache_env("fcgid"), "/hooks")
