// The MNIST demo, run as users run it, on a small subset so it takes about a second.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = path.join(__dirname, '..', 'demo', 'mnist.mjs');
const dir = mkdtempSync(path.join(tmpdir(), 'tapegrad-demo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run demo', () => {
  it('trains, reports accuracy and speed, and reloads the same accuracy from safetensors', async () => {
    const out = path.join(dir, 'weights.safetensors');
    const { stdout } = await run(process.execPath, [script, '--epochs', '4', '--train', '2000', '--width', '64', '--out', out]);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^MNIST: 2,000 training and 2,000 test digits \(seed 1\); MLP 784-64-64-10, batch 128, 4 epochs, \d+ threads?, \w+$/);
    expect(lines[1]).toMatch(/^Epoch 1\/4 {2}loss \d\.\d{4} {2}accuracy \d\.\d{4} {2}\d+\.\ds {2}[\d,]+ ex\/s$/);
    expect(lines[4]).toMatch(/^Epoch 4\/4 /);
    const acc = /^Test accuracy: (\d+\.\d\d)% \(loss \d\.\d{4}\)$/.exec(lines[5]!);
    expect(acc).not.toBeNull();
    // Four epochs on 2,000 digits already beat chance (10%) by far.
    expect(Number(acc![1])).toBeGreaterThan(50);
    expect(lines[6]).toMatch(/^Trained in \d+\.\d\d s: [\d,]+ examples per second$/);
    expect(lines[7]).toBe(`Saved the weights to ${out}; reloaded into a fresh model: test accuracy ${acc![1]}% (the same)`);
    // Three weight matrices and biases of 784·64 + 64·64 + 64·10 + 64 + 64 + 10 floats.
    expect(statSync(out).size).toBeGreaterThan(4 * (784 * 64 + 64 * 64 + 64 * 10 + 138));
  });

  it('trains the small CNN with --model cnn', async () => {
    const out = path.join(dir, 'cnn.safetensors');
    const { stdout } = await run(process.execPath, [script, '--model', 'cnn', '--epochs', '2', '--train', '1000', '--width', '4', '--out', out]);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^MNIST: 1,000 training and 2,000 test digits \(seed 1\); CNN conv4-pool-conv8-pool-linear10, batch 128, 2 epochs/);
    const acc = /^Test accuracy: (\d+\.\d\d)% /.exec(lines[3]!);
    // Two epochs on 1,000 digits beat chance (10%).
    expect(Number(acc![1])).toBeGreaterThan(20);
    expect(lines[5]).toBe(`Saved the weights to ${out}; reloaded into a fresh model: test accuracy ${acc![1]}% (the same)`);
    await expect(run(process.execPath, [script, '--model', 'rnn'])).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/--model must be 'mlp' or 'cnn', got 'rnn'/) });
  });

  it('lists its options with --help and rejects unknown ones', async () => {
    const { stdout } = await run(process.execPath, [script, '--help']);
    for (const flag of ['--epochs', '--batch-size', '--threads', '--width', '--seed']) expect(stdout).toContain(flag);
    await expect(run(process.execPath, [script, '--epochs', 'x'])).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/--epochs must be an integer/) });
    await expect(run(process.execPath, [script, '--nope'])).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/Unknown option '--nope'/) });
  });
});
