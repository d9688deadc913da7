// A Node.js client of the gateway only: @grpc/grpc-js + @grpc/proto-loader load the published .proto files,
// create a campaign, play three turns and check what came back and what memory kept.
// Needs DM_GATEWAY_ADDR and DM_GATEWAY_KEY; node_modules come from tests/interop (NODE_PATH).
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
const metadata = new grpc.Metadata();
metadata.set('authorization', `Bearer ${process.env.DM_GATEWAY_KEY}`);
const creds = grpc.credentials.createInsecure();

function deadline(seconds) {
  return new Date(Date.now() + seconds * 1000);
}

function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline: deadline(60) }, (err, reply) => (err ? reject(err) : resolve(reply)));
  });
}

function play(client, request) {
  return new Promise((resolve, reject) => {
    const events = [];
    const arrivals = [];
    const started = Date.now();
    const call = client.PlayTurn(request, metadata, { deadline: deadline(120) });
    call.on('data', (msg) => { events.push(msg); arrivals.push(Date.now() - started); });
    call.on('error', reject);
    call.on('end', () => resolve({ events, arrivals }));
  });
}

test('three turns of a new campaign through the gateway only', async () => {
  assert.ok(address, 'DM_GATEWAY_ADDR is not set');
  const memory = new api.MemoryService(address, creds);
  const gm = new api.GameMasterService(address, creds);
  const { campaign } = await unary(memory, 'CreateCampaign', { worldId: 'ashen-reach', name: 'Node campaign' });
  assert.ok(campaign.id);

  const party = { members: ['Ash', 'Bree', 'Cor', 'Dov'].map((name) => ({ name, level: 3, characterClass: 'fighter' })) };
  const inputs = [
    'We wade into the Brinefen marsh with swords drawn, looking for the drowned shrine',
    'I approach the old fisherman on the jetty and ask him about the drowned shrine',
    'Bree searches the chest behind the altar of the shrine',
  ];
  const turns = [];
  for (const [i, input] of inputs.entries()) {
    const { events, arrivals } = await play(gm, {
      campaignId: campaign.id, turnId: `node-${i}`, input, actor: 'Ash', party, seed: String(100 + i),
    });
    const kinds = events.map((e) => e.event);
    assert.deepEqual(events.map((e) => e.sequence), events.map((_, n) => n), 'sequence numbers run from 0');
    assert.equal(kinds[0], 'context');
    assert.equal(kinds[kinds.length - 1], 'done');
    const chunks = events.filter((e) => e.event === 'narration');
    assert.ok(chunks.length >= 2, `turn ${i}: narration streamed in ${chunks.length} chunk(s)`);
    const narration = chunks.map((e) => e.narration.text).join('');
    assert.ok(narration.trim().length > 40, `turn ${i}: narration ${JSON.stringify(narration)}`);
    const done = events[events.length - 1].done;
    assert.equal(done.replayed, false);
    assert.ok(done.recordedEventIds.length >= 2, 'the action and the narration were recorded');
    assert.ok(Number(done.timingsMs.retrieval) > 0 && Number(done.timingsMs.model) > 0);
    turns.push({ events, kinds, narration, done, arrivals });
  }

  const built = turns.flatMap((t) => t.kinds.filter((k) => k === 'encounter' || k === 'npc'));
  assert.ok(built.length >= 1, `no encounter or NPC event in ${JSON.stringify(turns.map((t) => t.kinds))}`);
  const encounter = turns[0].events.find((e) => e.event === 'encounter');
  if (encounter) assert.ok(encounter.encounter.encounter.title && encounter.encounter.encounter.creatures.length > 0);
  const npc = turns[1].events.find((e) => e.event === 'npc');
  if (npc) assert.ok(npc.npc.npc.name && npc.npc.characterId);

  // Memory kept every event each turn reported, and a later turn's context carries the earlier turn.
  const { events } = await unary(memory, 'ListEvents', { campaignId: campaign.id, pageSize: 100 });
  const stored = new Map(events.map((e) => [e.id, e]));
  for (const t of turns) for (const id of t.done.recordedEventIds) assert.ok(stored.has(id), `event ${id} not in memory`);
  for (let i = 1; i < turns.length; i += 1) {
    const pieces = turns[i].events[0].context.pieces.map((p) => p.text);
    assert.ok(pieces.includes(turns[i - 1].narration),
      `turn ${i}'s context lacks turn ${i - 1}'s narration: ${JSON.stringify(pieces).slice(0, 800)}`);
  }
  memory.close();
  gm.close();
});
