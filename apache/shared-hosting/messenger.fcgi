#!/bin/sh
# messenger.fcgi — the launcher for shared hosting: upload it next to the .htaccess, mode 755.
#
# It names the config, then becomes the responder (exec keeps the FastCGI socket on fd 0),
# so the same file works under mod_fcgid (which gives its programs no SetEnv values) and
# plain CGI (where suexec drops unknown variables). Replace the two placeholders with
# absolute paths OUTSIDE the web root (docs/deploy.md "Shared hosting"), for example
#   @MSGR_CONFIG@ -> /home/you/messenger/msgr.conf
#   @MSGR_FCGI@   -> /home/you/messenger/bin/messenger.fcgi
MSGR_CONFIG='@MSGR_CONFIG@'
export MSGR_CONFIG
exec '@MSGR_FCGI@'
