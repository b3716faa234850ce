// @interledger/pay (JS reference STREAM sender) pays a tollcast STREAM receiver through a tollcast node,
// reached over ilp-plugin-btp as a BTP client. The node must answer IL-DCP (peer.config).
// usage: node pay_into_tollcast.js <btp+ws://:token@127.0.0.1:port> <destination_account> <shared_secret_b64> <amount_base_units>
// Prints one `TOLLCAST_JSON {...}` line: {amountSent, amountDelivered, sourceScale, destinationAsset, error} (amounts in BASE units).
const Pay = require('@interledger/pay');
// ilp-connector logs to stdout: our machine-readable lines carry this prefix.
const out = (line) => process.stdout.write(`TOLLCAST_JSON ${line}\n`);
const BtpPlugin = require('ilp-plugin-btp');
const BigNumber = require('bignumber.js');
const ILDCP = require('ilp-protocol-ildcp');

async function main() {
  const [btp, destinationAddress, secretB64, amountBase] = process.argv.slice(2);
  if (!amountBase) throw new Error('usage: pay_into_tollcast.js <btp url> <destination> <secret b64> <amount base units>');
  const plugin = new BtpPlugin({ server: btp });
  await plugin.connect();
  const sharedSecret = Buffer.from(secretB64, 'base64');
  // @interledger/pay counts in whole asset units: learn our scale first (IL-DCP), then convert.
  const { assetScale: scale } = await ILDCP.fetch(plugin.sendData.bind(plugin));
  const whole = new BigNumber(amountBase).shiftedBy(-scale);
  const quote = await Pay.quote({ plugin, destinationAddress, sharedSecret, amountToSend: whole });
  const receipt = await quote.pay();
  const result = {
    amountSent: receipt.amountSent.shiftedBy(scale).toFixed(0),
    amountDelivered: receipt.amountDelivered.shiftedBy(quote.destinationAccount.assetScale).toFixed(0),
    sourceScale: scale,
    destinationAsset: { code: quote.destinationAccount.assetCode, scale: quote.destinationAccount.assetScale },
    error: receipt.error || null,
  };
  out(JSON.stringify(result));
  await plugin.disconnect();
}
main().then(() => process.exit(0), (e) => {
  out(JSON.stringify({ error: String(e && e.stack || e) }));
  process.exit(1);
});
