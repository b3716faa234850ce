// ilp-plugin-btp (JS reference) as a BTP client of a tollcast node:
// authenticate with a token, fetch IL-DCP, pay through the node, get paid by the node.
// usage: node btp_client.js <port> <token> <destination to pay> <amount>
const BtpPlugin = require('ilp-plugin-btp');
const ILDCP = require('ilp-protocol-ildcp');
const { out, receiver, pay, exitOnStdinClose } = require('./common');

(async () => {
  const [port, token, dest, amount] = process.argv.slice(2);
  const plugin = new BtpPlugin({ server: `btp+ws://:${token}@127.0.0.1:${port}` });
  plugin.registerDataHandler(receiver('btp_client'));
  await plugin.connect();
  const info = await ILDCP.fetch(plugin.sendData.bind(plugin));
  out({ event: 'ildcp', clientAddress: info.clientAddress, assetCode: info.assetCode, assetScale: info.assetScale });
  out({ event: 'paid', result: await pay(plugin, dest, amount) });
  out({ event: 'noroute', result: await pay(plugin, 'g.nowhere.at.all', 1) });
  out({ event: 'ready' });
  exitOnStdinClose(() => plugin.disconnect());
})().catch((e) => { out({ event: 'error', message: String(e && e.stack || e) }); process.exit(1); });
