// One engine's benchmark process. The runner sends JSON lines on stdin:
//   {"cmd":"setup","cell":{...},"manifest":"<file>"} → {"check":[numbers]} or {"unsupported":"reason"}
//   {"cmd":"time","iters":n,"leadMs":m}             → {"ms":total milliseconds for n steps},
//                                                     timed after untimed steps for m ms
// and reads one JSON line per command on stdout. Engines print warnings to
// stdout at load time, so replies are tagged with a prefix the runner looks for.
import { createInterface } from 'node:readline';
import { readData } from './workloads.mjs';

const REPLY = '@@bench ';
const engineName = process.argv[2];
const engine = await import(`./engines/${engineName}.mjs`);
if (engine.init) await engine.init();

let current = null;
const reply = (obj) => process.stdout.write(REPLY + JSON.stringify(obj) + '\n');
reply({ ready: true, version: engine.version?.() ?? null });

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const msg = JSON.parse(line);
  try {
    if (msg.cmd === 'setup') {
      current?.dispose?.();
      current = null;
      const made = await engine.setup(msg.cell, readData(msg.manifest));
      if (typeof made === 'string') reply({ unsupported: made });
      else {
        current = made;
        reply({ check: Array.from(await current.check(), Number) });
      }
    } else if (msg.cmd === 'time') {
      const leadEnd = process.hrtime.bigint() + BigInt(Math.round((msg.leadMs ?? 0) * 1e6));
      while (process.hrtime.bigint() < leadEnd) await current.step();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < msg.iters; i++) await current.step();
      reply({ ms: Number(process.hrtime.bigint() - t0) / 1e6 });
    } else if (msg.cmd === 'exit') {
      break;
    }
  } catch (e) {
    reply({ error: String(e?.stack ?? e) });
  }
}
process.exit(0);
