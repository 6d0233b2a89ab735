// A pollen-js participant through `pollen relay` over the `ws` package (Node.js 20 has no
// global WebSocket), for the relay tests:
//
//   relay_client.mjs URL TOKEN pub TOPIC COUNT TIMEOUT [--size N] [--rate HZ] [--text T]
//       wait for a reader, write COUNT std_msgs/String samples "T N" (padded with 'x' to N
//       bytes when --size), wait for acknowledgements; exit 0 on success
//   relay_client.mjs URL TOKEN sub TOPIC COUNT TIMEOUT
//       print the first COUNT strings received (a sample longer than 200 characters as
//       "len=N head=..."), one per line; exit 0 when all came
//
// The transport's and the engine's counters go to stderr at the end.

import WebSocket from 'ws';
import { connectRelay } from '../../node.js';

const [url, token, mode, topic, countS, timeoutS, ...rest] = process.argv.slice(2);
const count = Number(countS);
const timeout = Number(timeoutS) * 1000;
const opt = (name, dflt) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : dflt;
};
const size = Number(opt('--size', 0));
const rate = Number(opt('--rate', 0));
const text = opt('--text', 'js');

const deadline = setTimeout(() => {
  console.error(`timed out after ${timeout} ms`);
  process.exit(1);
}, timeout);

function show(v) {
  return v.length > 200 ? `len=${v.length} head=${v.slice(0, 20)}` : v;
}

const p = await connectRelay(url, { token, WebSocket, domainId: Number(process.env.DOMAIN ?? 0), peers: ['127.0.0.1'] });
p.on('error', (e) => console.error(`transport: ${e.message}`));
console.error(`relay session: ${JSON.stringify(p.listenLocators())} prefix ${p.guidPrefix}`);
let status = 0;
if (mode === 'pub') {
  const w = p.createWriter(topic, 'std_msgs/msg/String');
  await w.waitForReaders(1, { timeout });
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 0; i < count; i++) {
    let s = `${text} ${i}`;
    if (size > s.length) s += ' ' + 'x'.repeat(size - s.length - 1);
    await w.writeAsync(s);
    if (rate > 0) await new Promise((r) => setTimeout(r, 1000 / rate));
  }
  await w.waitForAcknowledgments({ timeout });
} else if (mode === 'sub') {
  const r = p.createReader(topic, 'std_msgs/msg/String');
  let got = 0;
  for await (const s of r) {
    if (s.state !== 'alive') continue;
    console.log(show(String(s.value)));
    got += 1;
    if (got >= count) break;
  }
} else {
  console.error(`unknown mode ${mode}`);
  status = 2;
}
console.error(`stats ${JSON.stringify(p.stats().transport)}`);
clearTimeout(deadline);
await p.close();
process.exit(status);
