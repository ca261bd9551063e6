// Bottender's configuration for bench/peers.sh: the Messenger channel only, app secret from
// the environment (bench/run.sh's), a dummy page token: the handler sends nothing, so no
// Graph call is ever made with it. Bottender 1.5 verifies X-Hub-Signature (sha1) on every POST.
module.exports = {
  session: { driver: 'memory' },
  channels: {
    messenger: {
      enabled: true,
      path: process.env.PEER_PATH || '/webhook/messenger',
      pageId: process.env.PEER_PAGE_ID || '100000000000001',
      accessToken: 'bench-dummy-page-token',
      appId: '200000000000001',
      appSecret: process.env.PEER_SECRET,
      verifyToken: 'benchverify',
    },
  },
};
