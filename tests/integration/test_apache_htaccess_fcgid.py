#!/usr/bin/env python3
"""test_apache_htaccess_fcgid.py — shared hosting: real Apache 2.4 with mod_fcgid (Debian's defaults) whose
docroot allows .htaccess; apache/shared-hosting/.htaccess and its launcher messenger.fcgi in
htdocs/cgi-bin/, the connector reached at /cgi-bin/messenger.fcgi + path (PATH_INFO).
Verification, signed events stored and answered through the fake Graph API, 403/404/405/413,
logs clean (tests/servers/webenv.py). TAP lines out."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
import webenv  # noqa: E402

webenv.main("apache htaccess-fcgid", lambda: webenv.apache_env("htaccess-fcgid"),
            "/cgi-bin/messenger.fcgi", fcgid_limit=131072)
