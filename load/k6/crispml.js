// crispml under load (k6): the loops of load/locustfile.py, for those who run k6 rather than Locust.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8000 load/k6/crispml.js
//
// - train: one virtual user trains on 5 % of the data over and over: ingests a fresh 5 % sample of the
//   data file in the server's data folder (a new seed each time), prepares it and trains a forest on it;
// - score_one and score_batch: score one record, or 1,000 records, per request against the champion,
//   8 users to 2, back to back, so scoring is the bulk of the traffic.
//
// Thresholds: some scoring answered, no failed request, and a p95 bound per request type; k6 exits
// non-zero (99) when one is crossed. The server needs a champion of CRISPML_LOAD_MODEL and the data file CRISPML_LOAD_DATA in its
// data folder (`python -m load.run` prepares both for Locust; the same store serves this script).
// Records are generated here (a seeded generator of the reference's columns: Time, V1..V28, Amount),
// never downloaded. A server that requires keys gets CRISPML_API_KEY as a Bearer token, the trainer
// CRISPML_LOAD_TRAIN_KEY if set. Options, with -e NAME=value (defaults in brackets): BASE_URL
// [http://127.0.0.1:8000], DURATION [60s], SCORE_ONE_VUS [8], SCORE_BATCH_VUS [2], CRISPML_LOAD_MODEL
// [fraud], CRISPML_LOAD_TRAIN_MODEL [fraud-load], CRISPML_LOAD_DATA [creditcard.parquet],
// CRISPML_LOAD_TRAIN_PERCENT [0.05], CRISPML_LOAD_BATCH_ROWS [1000], and the p95 bounds in ms:
// CRISPML_LOAD_P95_SCORE_ONE_MS [1000], CRISPML_LOAD_P95_SCORE_BATCH_MS [5000], CRISPML_LOAD_P95_TRAIN_MS
// [120000].

import http from 'k6/http';
import { check } from 'k6';

const env = (name, fallback) => __ENV[name] || fallback;
const BASE = env('BASE_URL', 'http://127.0.0.1:8000').replace(/\/$/, '');
const DURATION = env('DURATION', '60s');
const MODEL = env('CRISPML_LOAD_MODEL', 'fraud');
const TRAIN_MODEL = env('CRISPML_LOAD_TRAIN_MODEL', 'fraud-load');
const DATA = env('CRISPML_LOAD_DATA', 'creditcard.parquet');
const TRAIN_PERCENT = Number(env('CRISPML_LOAD_TRAIN_PERCENT', '0.05'));
const BATCH_ROWS = Number(env('CRISPML_LOAD_BATCH_ROWS', '1000'));

const SCORE_ONE = 'score 1 record';
// No thousands separator: a comma would split a threshold's tag filter.
const SCORE_BATCH = `score ${BATCH_ROWS} records`;

function headers(key) {
  const found = { 'Content-Type': 'application/json' };
  if (key) found.Authorization = `Bearer ${key}`;
  return found;
}
const SCORE_HEADERS = headers(__ENV.CRISPML_API_KEY);
const TRAIN_HEADERS = headers(__ENV.CRISPML_LOAD_TRAIN_KEY || __ENV.CRISPML_API_KEY);

export const options = {
  scenarios: {
    train: { executor: 'constant-vus', vus: 1, duration: DURATION, exec: 'train' },
    score_one: { executor: 'constant-vus', vus: Number(env('SCORE_ONE_VUS', '8')), duration: DURATION, exec: 'scoreOne' },
    score_batch: {
      executor: 'constant-vus', vus: Number(env('SCORE_BATCH_VUS', '2')), duration: DURATION, exec: 'scoreBatch',
    },
  },
  thresholds: {
    http_req_failed: ['rate==0'],
    'http_reqs{loop:score}': ['count>0'], // a server that hangs fails no request
    [`http_req_duration{name:${SCORE_ONE}}`]: [`p(95)<${env('CRISPML_LOAD_P95_SCORE_ONE_MS', '1000')}`],
    [`http_req_duration{name:${SCORE_BATCH}}`]: [`p(95)<${env('CRISPML_LOAD_P95_SCORE_BATCH_MS', '5000')}`],
    'http_req_duration{loop:train}': [`p(95)<${env('CRISPML_LOAD_P95_TRAIN_MS', '120000')}`],
  },
};

// A seeded generator (mulberry32, Box-Muller) of records shaped like the synthetic twin's.
function generator(seed) {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

function records(rows) {
  const { uniform, normal } = generator(20240601);
  const found = [];
  for (let i = 0; i < rows; i += 1) {
    const record = { Time: Math.round(uniform() * 172792) };
    for (let v = 1; v <= 28; v += 1) {
      const scale = 1.9 - ((1.9 - 0.3) * (v - 1)) / 27;
      record[`V${v}`] = Number((normal() * scale * 0.8).toFixed(6));
    }
    record.Amount = Number(Math.exp(3 + 1.2 * normal()).toFixed(2));
    found.push(record);
  }
  return found;
}

const RECORDS = records(BATCH_ROWS);
const ONE_BODIES = RECORDS.map((record) => JSON.stringify({ records: [record] }));
const BATCH_BODY = JSON.stringify({ records: RECORDS });
const SCORE_URL = `${BASE}/api/v1/models/${MODEL}/score`;

function scored(response, rows) {
  return check(response, {
    'status 200': (r) => r.status === 200,
    [`${rows} scores`]: (r) => r.status === 200 && r.json('rows') === rows,
  });
}

export function scoreOne() {
  const body = ONE_BODIES[Math.floor(Math.random() * ONE_BODIES.length)];
  scored(http.post(SCORE_URL, body, { headers: SCORE_HEADERS, tags: { name: SCORE_ONE, loop: 'score' } }), 1);
}

export function scoreBatch() {
  scored(http.post(SCORE_URL, BATCH_BODY, { headers: SCORE_HEADERS, tags: { name: SCORE_BATCH, loop: 'score' } }), RECORDS.length);
}

const JOB_PARAMS = { headers: TRAIN_HEADERS, timeout: '15m' };

// Submit a job, wait for it (the server holds a wait for a minute at most, then we poll), return its result.
function job(name, path, body) {
  const params = { ...JOB_PARAMS, tags: { name, loop: 'train' } };
  const submitted = http.post(`${BASE}${path}?wait=true&timeout=600`, JSON.stringify(body), params);
  if (!check(submitted, { [`${name} accepted`]: (r) => r.status === 200 || r.status === 202 })) return null;
  let answer = submitted.json();
  while (answer.status === 'queued' || answer.status === 'running') {
    const polled = http.get(`${BASE}/api/v1/jobs/${answer.id}?wait=true&timeout=60`,
      { ...JOB_PARAMS, tags: { name: 'job (poll)' } });
    answer = polled.json();
  }
  return check(answer, { [`${name} succeeded`]: (a) => a.status === 'succeeded' }) ? answer.result : null;
}

export function train() {
  const seed = Math.floor(Math.random() * 2 ** 31);
  const sample = job(`ingest ${Math.round(TRAIN_PERCENT * 100)}%`, '/api/v1/datasets',
    { source: { path: DATA }, name: 'load-sample', percent_data: TRAIN_PERCENT, seed });
  if (sample === null) return;
  const prepared = http.post(`${BASE}/api/v1/datasets/${sample.id}/prepare`, JSON.stringify({ missing: 'median' }),
    { ...JOB_PARAMS, tags: { name: 'prepare', loop: 'train' } });
  if (!check(prepared, { 'prepare 201': (r) => r.status === 201 })) return;
  job('train', `/api/v1/models/${TRAIN_MODEL}/versions`,
    { dataset: prepared.json('id'), algorithm: 'rf', frames: '1-6', weight: 10 });
}
