'use strict';
/**
 * The CloudWatch Synthetics canary (runtime syn-nodejs-puppeteer-9.1): once a minute, the
 * seed's round trip against Tokyo's regional API, as the local canary makes it
 * (monitor/src/canaries/canary.ts): read the balance, deposit 1 to the canary's own
 * `canary-<origin>` account, poll the saga until it is no longer pending. The run succeeds
 * only on `status#success`; any other answer throws, which Synthetics records as a failed run
 * (SuccessPercent 0 for the minute).
 *
 * CommonJS with no dependency outside Node and the runtime: the CDK app inlines this file as
 * the canary's script (handler `index.handler`). `roundTrip` takes its HTTP call as a
 * parameter, so infra/test/canary-script.test.ts runs it against a local server; `handler`
 * records each call as a Synthetics step (`synthetics.executeStep`), by name.
 *
 * Environment (set by infra/lib/canary.ts): BASE_URL, ACCOUNT_HEADER, ACCOUNT_ID,
 * RUN_TIMEOUT_MS (the run's budget, below the canary's timeout), POLL_INTERVAL_MS.
 */
const http = require('node:http');
const { randomUUID } = require('node:crypto');

const PENDING = 'status#pending';
const SUCCESS = 'status#success';

/**
 * One HTTP exchange with Node's http module: resolves `{ status, body }` (the body parsed as
 * JSON when it is JSON), rejects on a network error or after `timeoutMs` without an answer.
 */
function httpCall({ method, url, headers, body, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const request = http.request(url, {
      method,
      headers: { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }) },
      timeout: timeoutMs,
    }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { text += chunk; });
      response.on('end', () => {
        let parsed;
        try { parsed = text === '' ? undefined : JSON.parse(text); } catch { parsed = text; }
        resolve({ status: response.statusCode, body: parsed });
      });
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    if (payload !== undefined) request.write(payload);
    request.end();
  });
}

/**
 * The round trip. `call({ step, method, path, headers, body })` performs one request and
 * resolves `{ status, body }`. Returns the deposit's transactionId; throws an Error that
 * names the failed step.
 */
async function roundTrip({ accountHeader, accountId, call, runTimeoutMs, pollIntervalMs, now = Date.now, sleep }) {
  const deadline = now() + runTimeoutMs;
  const headers = { [accountHeader]: accountId };
  const balance = await call({ step: 'GET /balance', method: 'GET', path: '/balance', headers });
  if (balance.status !== 200) throw new Error(`GET /balance answered ${balance.status}`);
  const deposit = await call({
    step: 'POST /transaction/deposit', method: 'POST', path: '/transaction/deposit',
    headers: { ...headers, 'idempotency-key': randomUUID() }, body: { quantity: 1 },
  });
  const transactionId = deposit.body && deposit.body.transactionId;
  if (deposit.status < 200 || deposit.status > 299 || !transactionId) throw new Error(`POST /transaction/deposit answered ${deposit.status}`);
  const stillPending = () => new Error(`the deposit ${transactionId} was still pending after ${runTimeoutMs} ms`);
  for (;;) {
    let status;
    try {
      // The step name is a metric dimension in Synthetics: no transaction id in it.
      status = await call({ step: 'GET /transaction/{id}', method: 'GET', path: `/transaction/${encodeURIComponent(transactionId)}`, headers });
    } catch (error) {
      // A poll cut short by the run's deadline (a late timer leaves it a millisecond or two):
      // the saga was last seen pending, and that is why the run failed.
      if (now() >= deadline) throw Object.assign(stillPending(), { cause: error });
      throw error;
    }
    if (status.status !== 200) throw new Error(`GET /transaction/${transactionId} answered ${status.status}`);
    const state = status.body && status.body.status;
    if (state !== PENDING) {
      if (state !== SUCCESS) throw new Error(`the deposit ${transactionId} ended ${state}`);
      return transactionId;
    }
    if (now() + pollIntervalMs >= deadline) throw stillPending();
    await sleep(pollIntervalMs);
  }
}

function settings(env) {
  for (const name of ['BASE_URL', 'ACCOUNT_HEADER', 'ACCOUNT_ID']) {
    if (!env[name]) throw new Error(`${name} is not set`);
  }
  return {
    baseUrl: env.BASE_URL.replace(/\/+$/, ''),
    accountHeader: env.ACCOUNT_HEADER,
    accountId: env.ACCOUNT_ID,
    runTimeoutMs: Number(env.RUN_TIMEOUT_MS || 30000),
    pollIntervalMs: Number(env.POLL_INTERVAL_MS || 200),
  };
}

/** A `call` for roundTrip that sends plain HTTP requests, each bounded by what is left of the run. */
function plainCall(baseUrl, deadline, now = Date.now) {
  return ({ method, path, headers, body }) => httpCall({ method, url: `${baseUrl}${path}`, headers, body, timeoutMs: Math.max(1, deadline - now()) });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The Synthetics entry point: every request is a recorded step (request, status, timing). */
async function handler() {
  const synthetics = require('Synthetics');
  const config = settings(process.env);
  const deadline = Date.now() + config.runTimeoutMs;
  const call = plainCall(config.baseUrl, deadline);
  const recorded = (request) => {
    let result;
    return synthetics.executeStep(request.step, async () => {
      result = await call(request);
    }).then(() => result);
  };
  const transactionId = await roundTrip({ ...config, call: recorded, sleep });
  return `deposit ${transactionId} ended ${SUCCESS}`;
}

module.exports = { handler, roundTrip, plainCall, settings, httpCall };
