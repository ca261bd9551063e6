// Botkit 4.15 with its Facebook adapter (botbuilder-adapter-facebook 1.0.12), a bot with no
// handler. Botkit's own web server listens on every address (process.env.PORT), so this passes
// it an Express app set up exactly as Botkit sets up its own (lib/core.js: raw body capture,
// bodyParser.json and .urlencoded with the default 100kb limits) and listens on 127.0.0.1.
// The adapter verifies X-Hub-Signature (sha1) before it processes the body, and answers 200
// once every event has gone through Botkit's turn (middleware, dialog state read and saved in
// its MemoryStorage).
'use strict';
const http = require('http');
const express = require('express');
const bodyParser = require('body-parser');
const { Botkit } = require('botkit');
const { FacebookAdapter } = require('botbuilder-adapter-facebook');

const port = Number(process.env.PEER_PORT);
const webserver = express();
webserver.use((req, res, next) => {
  req.rawBody = '';
  req.on('data', (chunk) => {
    req.rawBody += chunk;
  });
  next();
});
webserver.use(bodyParser.json({ limit: '100kb' }));
webserver.use(bodyParser.urlencoded({ limit: '100kb', extended: true }));

const adapter = new FacebookAdapter({
  verify_token: 'benchverify',
  app_secret: process.env.PEER_SECRET,
  access_token: 'bench-dummy-page-token',
});
const controller = new Botkit({
  webhook_uri: process.env.PEER_PATH || '/webhook/messenger',
  adapter,
  webserver,
  disable_console: true,
});
controller.ready(() => {
  http.createServer(webserver).listen(port, '127.0.0.1', () => process.emit('peer-listening'));
});
