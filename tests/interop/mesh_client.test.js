// A non-Python client of the mesh: @grpc/grpc-js + @grpc/proto-loader load the .proto files as published,
// check each service's health and call one RPC of each, asserting the status code it gets.
// Addresses come from DM_INTEROP_ADDRS (JSON: {"memory": "127.0.0.1:port", ...}).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const ROOT = path.resolve(__dirname, '..', '..');
const LOAD_OPTS = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true };
const files = ['common', 'memory', 'narrative', 'encounter', 'npc', 'item', 'visual', 'gateway'].map(
  (n) => `dungeonmaster/v1/${n}.proto`);
const api = grpc.loadPackageDefinition(
  protoLoader.loadSync(files, { ...LOAD_OPTS, includeDirs: [path.join(ROOT, 'protos')] })).dungeonmaster.v1;
const health = grpc.loadPackageDefinition(
  protoLoader.loadSync(path.join(__dirname, 'health.proto'), LOAD_OPTS)).grpc.health.v1;
const addrs = JSON.parse(process.env.DM_INTEROP_ADDRS || '{}');
const creds = grpc.credentials.createInsecure();

function call(client, method, request) {
  return new Promise((resolve) => {
    const deadline = new Date(Date.now() + 30000);
    client[method](request, { deadline }, (err, reply) => resolve({ err, reply }));
  });
}

// service short name -> [gRPC service, proto service name, method, request, expected status code name]
const CASES = {
  memory: ['MemoryService', 'ListWorlds', { pageSize: 10 }, 'OK'],
  narrative: ['NarrativeService', 'PlotTwist', { campaignId: '', situation: '', maxTokens: -1 }, 'INVALID_ARGUMENT'],
  encounter: ['EncounterService', 'RollDice', { notation: '4d6kh3', seed: '7' }, 'OK'],
  npc: ['NpcService', 'GetNpcOptions', {}, 'OK'],
  item: ['ItemService', 'GenerateItem', { rarity: 'RARITY_UNSPECIFIED' }, 'INVALID_ARGUMENT'],
  visual: ['VisualService', 'GenerateImage', { spec: { prompt: 'a lighthouse', steps: 20 } }, 'FAILED_PRECONDITION'],
  gateway: ['GameMasterService', 'GetStatus', {}, 'OK'],
};

for (const [name, [svc, method, request, expected]] of Object.entries(CASES)) {
  test(`${name}: health answers and ${svc}.${method} returns ${expected}`, async (t) => {
    const address = addrs[name];
    assert.ok(address, `no address for ${name} in DM_INTEROP_ADDRS`);
    const hc = new health.Health(address, creds);
    const h = await call(hc, 'Check', { service: `dungeonmaster.v1.${svc}` });
    assert.equal(h.err, null, `health check failed: ${h.err && h.err.message}`);
    // A service whose dependency is missing (visual with no model) reports NOT_SERVING, which is the truth.
    assert.ok(['SERVING', 'NOT_SERVING'].includes(h.reply.status), h.reply.status);
    if (name !== 'visual') assert.equal(h.reply.status, 'SERVING');
    hc.close();

    const client = new api[svc](address, creds);
    const { err, reply } = await call(client, method, request);
    const code = err ? Object.keys(grpc.status).find((k) => grpc.status[k] === err.code) : 'OK';
    assert.equal(code, expected, `${svc}.${method}: ${err ? err.message : JSON.stringify(reply)}`);
    if (expected === 'OK') assert.ok(reply);
    else assert.ok(err.details.length > 0, 'error carries a message');
    client.close();
  });
}
