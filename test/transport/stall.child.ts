import { Endpoint } from '../../transport/endpoint.js';

/**
 * A peer that keeps talking while its server's event loop is blocked: it
 * connects to the parent's endpoint and sends a small message every 20 ms
 * until killed, printing "connected" once the handshake is done and
 * "closed <code>" if its connection ends. argv: <port>
 */
const port = Number(process.argv[2]);
const endpoint = await Endpoint.open({ host: '127.0.0.1', loss: null, deadPeerTimeoutMs: 0 });
const connection = await endpoint.connect({ host: '127.0.0.1', port }, { timeoutMs: 10_000 });
connection.setMessageHandler(() => {});
connection.onClose((error) => process.stdout.write(`closed ${error?.code ?? 'clean'}\n`));
process.stdout.write('connected\n');
setInterval(() => {
  if (connection.isOpen) connection.send(new Uint8Array(64)).catch(() => {});
}, 20);
