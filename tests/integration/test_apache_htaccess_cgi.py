#!/usr/bin/env python3
"""test_apache_htaccess_cgi.py — shared hosting: real Apache 2.4 with mod_cgi only whose
docroot allows .htaccess; apache/shared-hosting/.htaccess and its launcher messenger.fcgi in
htdocs/cgi-bin/, the connector reached at /cgi-bin/messenger.fcgi + path (PATH_INFO).
Verification, signed events stored and answered through the fake Graph API, 403/404/405/413,
logs clean (tests/servers/webenv.py). TAP lines out."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
import webenv  # noqa: E402

webenv.main("apache htaccess-cgi", lambda: webenv.apache_env("htaccess-cgi"),
            "/cgi-bin/messenger.fcgi", drain_for_answer=True)
