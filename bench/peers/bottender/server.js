// What `bottender start` does (bottender/dist/cli/providers/sh/start.js, 1.5.5), bound to
// 127.0.0.1 instead of every address, without the CLI (its update-notifier would ask the npm
// registry for a newer version) and in production mode (dev: false, so no DevServer and no
// ngrok). Run from this folder: Bottender reads ./bottender.config.js and ./index.js.
'use strict';
const bodyParser = require('body-parser');
const express = require('express');
const { bottender } = require('bottender');

const port = Number(process.env.PEER_PORT);
const app = bottender({ dev: false });
const handle = app.getRequestHandler();
app.prepare().then(() => {
  const server = express();
  const verify = (req, _, buf) => {
    req.rawBody = buf.toString();
  };
  server.use(bodyParser.json({ verify }));
  server.use(bodyParser.urlencoded({ extended: false, verify }));
  server.all('*', (req, res) => handle(req, res));
  server.listen(port, '127.0.0.1', () => process.emit('peer-listening'));
});
