// A Node.js watcher of the gateway: follows a campaign with WatchCampaign while a player plays a turn, then
// reconnects with the last event id it saw and gets exactly what it missed.
// Needs DM_GATEWAY_ADDR, DM_WATCH_KEY, DM_PLAYER_KEY, DM_CAMPAIGN, DM_CHARACTER; node_modules from tests/interop.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const ROOT = path.resolve(__dirname, '..', '..');
const LOAD_OPTS = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true };
const files = ['common', 'memory', 'gateway'].map((n) => `dungeonmaster/v1/${n}.proto`);
const api = grpc.loadPackageDefinition(
  protoLoader.loadSync(files, { ...LOAD_OPTS, includeDirs: [path.join(ROOT, 'protos')] })).dungeonmaster.v1;

const address = process.env.DM_GATEWAY_ADDR;
const campaignId = process.env.DM_CAMPAIGN;
const creds = grpc.credentials.createInsecure();

function auth(key) {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${key}`);
  return md;
}

function watch(gm, afterEventId) {
  const items = [];
  const call = gm.WatchCampaign({ campaignId, afterEventId }, auth(process.env.DM_WATCH_KEY));
  const state = { items, call, error: null };
  call.on('data', (msg) => items.push(msg));
  call.on('error', (err) => { if (err.code !== grpc.status.CANCELLED) state.error = err; });
  return state;
}

async function until(state, predicate, seconds = 30) {
  const end = Date.now() + seconds * 1000;
  while (!predicate(state.items)) {
    if (state.error) throw state.error;
    if (Date.now() > end) throw new Error(`watcher saw ${state.items.length} items, condition not met`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function play(gm, turnId, input) {
  return new Promise((resolve, reject) => {
    const events = [];
    const call = gm.PlayTurn(
      { campaignId, turnId, input, actor: 'Node', characterIds: [process.env.DM_CHARACTER], maxTokens: 80 },
      auth(process.env.DM_PLAYER_KEY), { deadline: new Date(Date.now() + 120000) });
    call.on('data', (m) => events.push(m));
    call.on('error', reject);
    call.on('end', () => resolve(events));
  });
}

const turnOf = (e) => JSON.parse(e.metadataJson || '{}').turn_id;

test('a watcher sees another player\'s turn live and resumes from its last event id', async () => {
  const gm = new api.GameMasterService(address, creds);
  const first = watch(gm, '');
  await new Promise((r) => setTimeout(r, 300));
  const own = await play(gm, 'node-watch-1', 'I study the old map by the hearth');
  assert.equal(own[own.length - 1].event, 'done');
  await until(first, (items) => items.some((i) => i.item === 'live' && i.live.kind === 'LIVE_KIND_TURN_ENDED'
    && i.live.turnId === 'node-watch-1'));
  await until(first, (items) => items.some((i) => i.item === 'event' && i.event.kind === 'EVENT_KIND_DM_NARRATION'
    && turnOf(i.event) === 'node-watch-1'));
  const lives = first.items.filter((i) => i.item === 'live' && i.live.turnId === 'node-watch-1').map((i) => i.live);
  assert.equal(lives[0].kind, 'LIVE_KIND_TURN_STARTED');
  const chunks = lives.filter((l) => l.kind === 'LIVE_KIND_NARRATION').map((l) => l.text).join('');
  const recorded = first.items.find((i) => i.item === 'event' && i.event.kind === 'EVENT_KIND_DM_NARRATION'
    && turnOf(i.event) === 'node-watch-1').event;
  assert.equal(chunks.split(/\s+/).join(' ').trim(), recorded.content.split(/\s+/).join(' ').trim());
  const seqs = first.items.filter((i) => i.item === 'event').map((i) => Number(i.event.sequence));
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'log order');
  assert.equal(new Set(seqs).size, seqs.length, 'no duplicate');
  const lastId = first.items[first.items.length - 1].eventId;
  first.call.cancel();

  await play(gm, 'node-watch-2', 'I ask the innkeeper about the road north');
  const second = watch(gm, lastId);
  await until(second, (items) => items.some((i) => i.item === 'event' && i.event.kind === 'EVENT_KIND_DM_NARRATION'
    && turnOf(i.event) === 'node-watch-2'));
  const resumed = second.items.filter((i) => i.item === 'event').map((i) => Number(i.event.sequence));
  assert.ok(resumed.every((s) => s > Number(lastId)), `resumed ${resumed} after ${lastId}`);
  assert.equal(resumed[0], Number(lastId) + 1, 'nothing missed');
  second.call.cancel();
  gm.close();
});
