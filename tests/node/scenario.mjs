// The end-to-end scenario of the Python client's tests, driven through the official twilio
// Node.js client (`client.notify.v1.services(...)`) against the local API.
//
//   NOTIFY_API_URL=http://127.0.0.1:3000 NOTIFY_DYNAMODB_URL=http://127.0.0.1:PORT \
//   NOTIFY_ACCOUNT_SID=AC… NOTIFY_AUTH_TOKEN=… \
//   NOTIFY_OTHER_ACCOUNT_SID=AC… NOTIFY_OTHER_AUTH_TOKEN=… \
//   NOTIFY_APN_CERTIFICATE="$(cat cert.pem)" NOTIFY_APN_PRIVATE_KEY="$(cat key.pem)" node scenario.mjs
//
// (`make run` prints the URL, the DynamoDB URL and an account; NOTIFY_DEV_ACCOUNTS gives it the
// other.) tests/e2e/test_node_client.py runs it against the end-to-end tests' local API. It
// exits 0 when every step passed, and 1 at the first step that failed.
//
// How twilio-node is pointed at another host (read in node_modules/twilio/lib, 6.x):
// - Each product is a Domain with a public, mutable `baseUrl` (NotifyBase passes
//   "https://notify.twilio.com"); `client.notify` is created once and cached, and every URL the
//   Notify resources build goes through `Domain.absoluteUrl()`, which reads `this.baseUrl` on
//   each call. So `client.notify.baseUrl = "http://127.0.0.1:PORT"` moves all of Notify.
// - Pages are followed through `meta.next_page_url` / `previous_page_url` verbatim
//   (base/Page.js), so those must be absolute and on the serving host (they are).
// - Edge and region (the `edge`/`region` options, else TWILIO_EDGE / TWILIO_REGION from the
//   environment) rewrite the host name of every request in `BaseTwilio.getHostname()`, which
//   takes it for product.edge.region.twilio.com: with TWILIO_REGION=au1, localhost is sent to
//   "localhost.au1.localhost" and an API Gateway host to "abc.execute-api.au1.amazonaws.com".
//   (127.0.0.1 survives only because the URL object refuses the rewritten "127.au1.0.1".) They
//   cannot aim at another host. The options are read with `??`, so the empty strings below shut
//   out the environment's values. Even with neither set, a host name of more than five labels
//   keeps only its first three and last two.
// - `httpClient` replaces the RequestClient (axios underneath; `proxy: false`, and HTTP_PROXY
//   only applies to https). The client below extends it to refuse, before anything is sent,
//   any request that is not for the local API, and to record what went on the wire and what
//   came back.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

import twilio from "twilio";

const { RequestClient, RestException } = twilio;

const ADMIN_CLI = fileURLToPath(new URL("../../scripts/notify-admin", import.meta.url));
const IDENTITY_LIMIT = 20;
const CREDENTIAL_SID = /^CR[0-9a-f]{32}$/;
const SERVICE_SID = /^IS[0-9a-f]{32}$/;
const BINDING_SID = /^BS[0-9a-f]{32}$/;
const KEY_SID = /^SK[0-9a-f]{32}$/;

function setting(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`scenario.mjs: ${name} is not set (see the comment at the top of the file)`);
    process.exit(2);
  }
  return value;
}

const apiUrl = setting("NOTIFY_API_URL").replace(/\/+$/, "");
const dynamodbUrl = setting("NOTIFY_DYNAMODB_URL");
const account = {
  username: setting("NOTIFY_ACCOUNT_SID"),
  password: setting("NOTIFY_AUTH_TOKEN"),
};
account.accountSid = account.username;
const otherAccount = {
  username: setting("NOTIFY_OTHER_ACCOUNT_SID"),
  password: setting("NOTIFY_OTHER_AUTH_TOKEN"),
};
otherAccount.accountSid = otherAccount.username;
// An APNs client certificate and its key (PEM): node cannot issue one; the test passes them.
const apnCertificate = setting("NOTIFY_APN_CERTIFICATE");
const apnPrivateKey = setting("NOTIFY_APN_PRIVATE_KEY");

/** A Google service account's JSON key, with a fresh RSA key, as an fcm Credential's Secret. */
function serviceAccountJson() {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return JSON.stringify({
    type: "service_account",
    project_id: "node-e2e",
    private_key_id: "0123456789abcdef0123456789abcdef01234567",
    private_key: privateKey.export({ type: "pkcs8", format: "pem" }),
    client_email: "sender@node-e2e.iam.gserviceaccount.com",
    token_uri: "https://oauth2.googleapis.com/token",
  });
}
const apiHost = new URL(apiUrl).host;
assert.equal(new URL(apiUrl).hostname, "127.0.0.1", "NOTIFY_API_URL must be on 127.0.0.1");

// -- the client ---------------------------------------------------------------------------

/** Every request the clients sent, as it went on the wire with the JSON that answered it, and
 * any request that was refused. */
const wire = { sent: [], refused: [] };

/** twilio-node's own HTTP client, refusing whatever is not for the local API. */
class LoopbackOnlyClient extends RequestClient {
  constructor() {
    super({ timeout: 30_000 });
    // The last hook before a request leaves: the URL here is the one sent, query included.
    this.axios.interceptors.request.use((config) => {
      const url = new URL(this.axios.getUri(config));
      const request = { method: config.method.toUpperCase(), url, body: config.data };
      if (url.host !== apiHost || url.protocol !== "http:") {
        wire.refused.push(request);
        throw new Error(`refused to send ${request.method} ${url.href}: not the local API`);
      }
      wire.sent.push(request);
      config.wireRecord = request;
      return config;
    });
    this.axios.interceptors.response.use((response) => {
      response.config.wireRecord.response = response.data;
      return response;
    });
  }
}

function clientFor(credentials) {
  const client = twilio(credentials.username, credentials.password, {
    accountSid: credentials.accountSid,
    httpClient: new LoopbackOnlyClient(),
    edge: "",
    region: "",
  });
  client.notify.baseUrl = apiUrl;
  return client;
}

/** The last request sent: its method, URL (a `URL`), form body and parsed JSON response. */
function lastRequest() {
  return wire.sent.at(-1);
}

// -- helpers ------------------------------------------------------------------------------

function uniqueName(prefix) {
  return `${prefix} ${randomBytes(4).toString("hex")}`;
}

function admin(...args) {
  const output = execFileSync(ADMIN_CLI, ["--endpoint-url", dynamodbUrl, ...args, "--json"], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LANG: process.env.LANG ?? "C.UTF-8" },
    stdio: ["ignore", "pipe", "pipe"],
    encoding: "utf8",
    timeout: 60_000,
  });
  return JSON.parse(output);
}

/** `promise` rejects with twilio-node's RestException of this status and code: returns it. */
async function assertRestError(promise, status, code) {
  const error = await promise.then(
    (value) => assert.fail(`expected ${status} / ${code}, got ${JSON.stringify(value)}`),
    (reason) => reason,
  );
  assert.ok(error instanceof RestException, `not a RestException: ${error?.stack ?? error}`);
  assert.deepEqual({ status: error.status, code: error.code }, { status, code }, error.message);
  assert.equal(error.moreInfo, `https://www.twilio.com/docs/errors/${code}`);
  return error;
}

const assertNotFound = (promise) => assertRestError(promise, 404, 20404);

// twilio-node hands dates to `new Date()` whatever their format (RFC 2822 too), unlike
// twilio-python, which parses ISO 8601 only: the format the API promises is checked on the wire.
const WIRE_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

function assertWireDates(payload) {
  for (const name of ["date_created", "date_updated"]) {
    assert.match(payload[name], WIRE_DATE, `${name} on the wire`);
  }
}

function assertRecentDate(moment, what) {
  assert.ok(moment instanceof Date, `${what} was not parsed to a Date: ${moment}`);
  assert.ok(!Number.isNaN(moment.getTime()), `${what} is an invalid Date`);
  assert.ok(Math.abs(Date.now() - moment.getTime()) < 5 * 60_000, `${what} is not recent`);
  assert.equal(moment.getUTCMilliseconds(), 0, `${what}: the API sends whole seconds`);
}

const sidsOf = (instances) => instances.map((instance) => instance.sid);
const sorted = (values) => [...values].sort();

async function listed(bindings, params = {}) {
  const sids = sidsOf(await bindings.list(params));
  assert.equal(new Set(sids).size, sids.length, `a binding was listed twice: ${sids}`);
  return sorted(sids);
}

/** The SIDs of bindings created one at a time, in order, as listings return them. */
async function createAll(bindings, specs) {
  const sids = [];
  for (const spec of specs) sids.push((await bindings.create(spec)).sid);
  return sids;
}

function utcDay(date, days = 0) {
  const day = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  day.setUTCDate(day.getUTCDate() + days);
  return day;
}

// -- the scenario -------------------------------------------------------------------------

const client = clientFor(account);
const otherClient = clientFor(otherAccount);
const services = client.notify.v1.services;
const created = []; // [client, sid] of each Service made, deleted at the end
const state = {};

async function newService(params, by = client) {
  const service = await by.notify.v1.services.create(params);
  created.push([by, service.sid]);
  return service;
}

const steps = [
  [
    "the HTTP client refuses, unsent, a request that is not for the local API",
    async () => {
      // Another loopback address: were the guard bypassed, nothing would leave the machine.
      const astray = clientFor(account);
      astray.notify.baseUrl = "http://127.0.0.2:9";
      const refusal = /refused to send GET http:\/\/127\.0\.0\.2:9\/v1\/Services/;
      await assert.rejects(astray.notify.v1.services.list(), refusal);
      assert.equal(wire.refused.length, 1);
      assert.equal(wire.sent.length, 0);
      wire.refused.length = 0;
    },
  ],
  [
    "Credentials are created with twilio-node, and no answer holds a secret",
    async () => {
      const credentials = clientFor(account).notify.v1.credentials;
      const apn = await credentials.create({
        type: "apn",
        friendlyName: "node apn",
        certificate: apnCertificate,
        privateKey: apnPrivateKey,
        sandbox: true,
      });
      const secret = serviceAccountJson();
      const fcm = await credentials.create({ type: "fcm", secret });
      assert.match(apn.sid, CREDENTIAL_SID);
      assert.equal(apn.type, "apn");
      assert.equal(apn.sandbox, "True");
      assert.equal(fcm.sandbox, "False");
      assert.equal(apn.url, `${apiUrl}/v1/Credentials/${apn.sid}`);
      const answers = JSON.stringify(wire.sent.map((request) => request.response));
      for (const given of [apnCertificate, apnPrivateKey, secret]) {
        assert.ok(!answers.includes(given.trim().split("\n")[1]), "a secret came back");
      }
      const listed = await credentials.list();
      assert.ok(listed.some((c) => c.sid === apn.sid) && listed.some((c) => c.sid === fcm.sid));
      await assertRestError(credentials.create({ type: "fcm", secret: "AIza" + "0".repeat(35) }), 400, 20001);
      state.apnCredential = apn.sid;
      state.fcmCredential = fcm.sid;
    },
  ],
  [
    "a Service is created with a default apn protocol version and booleans",
    async () => {
      const name = uniqueName("node e2e");
      const service = await newService({
        friendlyName: name,
        defaultApnNotificationProtocolVersion: "4",
        defaultAlexaNotificationProtocolVersion: "2",
        logEnabled: false,
        deliveryCallbackEnabled: true,
      });
      // twilio-node sends booleans as "true"/"false", as twilio-python does.
      assert.match(lastRequest().body, /(^|&)LogEnabled=false(&|$)/);
      assert.match(lastRequest().body, /(^|&)DeliveryCallbackEnabled=true(&|$)/);

      assert.match(service.sid, SERVICE_SID);
      assert.equal(service.accountSid, account.accountSid);
      assert.equal(service.friendlyName, name);
      assert.equal(service.defaultApnNotificationProtocolVersion, "4");
      assert.equal(service.defaultFcmNotificationProtocolVersion, null);
      assert.equal(service.defaultAlexaNotificationProtocolVersion, "2");
      assert.equal(service.logEnabled, false);
      assert.equal(service.deliveryCallbackEnabled, true);
      assertRecentDate(service.dateCreated, "dateCreated");
      assertWireDates(lastRequest().response);
      assert.deepEqual(service.dateUpdated, service.dateCreated);
      const url = `${apiUrl}/v1/Services/${service.sid}`;
      assert.equal(service.url, url);
      assert.deepEqual(service.links, {
        bindings: `${url}/Bindings`,
        notifications: `${url}/Notifications`,
        segments: `${url}/Segments`,
        users: `${url}/Users`,
      });
      assert.deepEqual((await services(service.sid).fetch()).toJSON(), service.toJSON());
      state.service = service;
      state.bindings = services(service.sid).bindings;
    },
  ],
  [
    "bindings of each type are created with tags, and every field is as the API defines it",
    async () => {
      const { service, bindings } = state;
      // Each push type names a Credential of the account that fits it.
      const apn = { credentialSid: state.apnCredential };
      const credential = { credentialSid: state.fcmCredential };
      const version5 = { notificationProtocolVersion: "5" };
      const kept = state.fcmCredential;
      const cases = [
        // [params, expected credentialSid, expected notificationProtocolVersion]
        // The Service's default for apn, "3" for fcm, the given version, the alexa default:
        [{ bindingType: "apn", address: "apn-token-1", ...apn }, state.apnCredential, "4"],
        [{ bindingType: "fcm", address: "fcm-token-1", ...credential }, kept, "3"],
        [{ bindingType: "gcm", address: "gcm-token-1", ...version5, ...credential }, kept, "5"],
        // alexa takes a protocol version but no credential:
        [{ bindingType: "alexa", address: "alexa-token-1", ...credential }, null, "2"],
        // Neither a credential nor a version for sms and messenger, even when given:
        [{ bindingType: "sms", address: "+15551230001", ...version5, ...credential }, null, null],
        [{ bindingType: "facebook-messenger", address: "1234567890123456" }, null, null],
      ];
      state.created = {};
      for (const [params, credentialSid, version] of cases) {
        const identity = "alice smith/1";
        const binding = await bindings.create({
          identity,
          tag: ["premium", "beta", "premium"],
          endpoint: "legacy-endpoint-26607274",
          ...params,
        });
        // Repeated parameters go as repeated keys, as twilio-python sends them.
        assert.match(lastRequest().body, /Tag=premium&Tag=beta&Tag=premium/);

        const what = params.bindingType;
        assert.match(binding.sid, BINDING_SID, what);
        assert.equal(binding.accountSid, account.accountSid, what);
        assert.equal(binding.serviceSid, service.sid, what);
        assert.equal(binding.identity, identity, what);
        assert.equal(binding.bindingType, params.bindingType, what);
        assert.equal(binding.address, params.address, what);
        assert.deepEqual(binding.tags, ["premium", "beta"], what);
        assert.equal(binding.credentialSid, credentialSid, what);
        assert.equal(binding.notificationProtocolVersion, version, what);
        assert.equal(binding.endpoint, null, what); // deprecated: accepted, ignored
        assertRecentDate(binding.dateCreated, `${what} dateCreated`);
        assertRecentDate(binding.dateUpdated, `${what} dateUpdated`);
        assertWireDates(lastRequest().response);
        const serviceUrl = `${apiUrl}/v1/Services/${service.sid}`;
        assert.equal(binding.url, `${serviceUrl}/Bindings/${binding.sid}`, what);
        assert.deepEqual(binding.links, { user: `${serviceUrl}/Users/alice%20smith%2F1` }, what);
        state.created[what] = binding;
      }
    },
  ],
  [
    "each binding fetched by SID is the binding created",
    async () => {
      for (const binding of Object.values(state.created)) {
        const fetched = await state.bindings(binding.sid).fetch();
        assert.deepEqual(fetched.toJSON(), binding.toJSON());
        assert.ok(fetched.dateCreated instanceof Date);
      }
      // A binding is reached through its own Service only.
      const another = await newService({ friendlyName: uniqueName("node e2e another") });
      await assertNotFound(services(another.sid).bindings(state.created.apn.sid).fetch());
    },
  ],
  [
    "an address registered again by another identity replaces the binding: new SID, old 404",
    async () => {
      const { bindings } = state;
      const address = { bindingType: "fcm", address: "shared-token" };
      const old = await bindings.create({ identity: "carol", ...address });
      const replacing = await bindings.create({ identity: "dave", ...address });

      assert.notEqual(replacing.sid, old.sid);
      assert.equal(replacing.identity, "dave");
      await assertNotFound(bindings(old.sid).fetch());
      assert.equal((await bindings(replacing.sid).fetch()).identity, "dave");
      assert.deepEqual(await listed(bindings, { identity: ["carol"] }), []);
      assert.deepEqual(await listed(bindings, { identity: ["dave"] }), [replacing.sid]);
    },
  ],
  [
    "an identical create returns the same binding",
    async () => {
      const { bindings } = state;
      const spec = { identity: "erin", bindingType: "apn", address: "apn-erin", tag: ["a", "b"] };
      const first = await bindings.create(spec);
      const again = await bindings.create(spec);

      assert.equal(again.sid, first.sid);
      assert.deepEqual(again.dateCreated, first.dateCreated);
      assert.deepEqual(await listed(bindings, { identity: ["erin"] }), [first.sid]);
    },
  ],
  [
    "the 21st binding of an identity is refused with 400 / 20001",
    async () => {
      const { bindings } = state;
      const specs = Array.from({ length: IDENTITY_LIMIT }, (_, n) => ({
        identity: "frank",
        bindingType: "apn",
        address: `frank-token-${n}`,
      }));
      const sids = await createAll(bindings, specs);

      const extra = { identity: "frank", bindingType: "apn", address: "frank-token-extra" };
      const refused = await assertRestError(bindings.create(extra), 400, 20001);
      assert.match(refused.message, new RegExp(`\\b${IDENTITY_LIMIT}\\b`));
      assert.deepEqual(await listed(bindings, { identity: ["frank"] }), sorted(sids));

      assert.equal(await bindings(sids[0]).remove(), true);
      const accepted = await bindings.create(extra);
      assert.deepEqual(
        await listed(bindings, { identity: ["frank"] }),
        sorted([...sids.slice(1), accepted.sid]),
      );
    },
  ],
  [
    "lists filter by tags (all of them, implicit tags included), identities (any), dates",
    async () => {
      const service = await newService({ friendlyName: uniqueName("node e2e filters") });
      const bindings = services(service.sid).bindings;
      const [aliceApn, aliceSms, bobFcm, carolGcm] = await createAll(bindings, [
        { identity: "alice", bindingType: "apn", address: "apn-1", tag: ["premium", "beta"] },
        { identity: "alice", bindingType: "sms", address: "+15551230010", tag: ["beta"] },
        { identity: "bob", bindingType: "fcm", address: "fcm-1", tag: ["premium"] },
        { identity: "carol", bindingType: "gcm", address: "gcm-1" },
      ]);
      const everyone = sorted([aliceApn, aliceSms, bobFcm, carolGcm]);

      assert.deepEqual(await listed(bindings), everyone);
      // Tag: all of them.
      assert.deepEqual(await listed(bindings, { tag: ["premium", "beta"] }), [aliceApn]);
      assert.equal(lastRequest().url.search.match(/Tag=/g).length, 2, "Tag as repeated keys");
      assert.deepEqual(await listed(bindings, { tag: ["beta", "premium", "apn"] }), [aliceApn]);
      assert.deepEqual(await listed(bindings, { tag: ["premium", "beta", "sms"] }), []);
      assert.deepEqual(await listed(bindings, { tag: ["premium"] }), sorted([aliceApn, bobFcm]));
      assert.deepEqual(await listed(bindings, { tag: ["nobody-has-this"] }), []);
      // The implicit tags: "all" and the binding type.
      assert.deepEqual(await listed(bindings, { tag: ["all"] }), everyone);
      assert.deepEqual(await listed(bindings, { tag: "all" }), everyone); // a lone string
      assert.deepEqual(await listed(bindings, { tag: ["sms"] }), [aliceSms]);
      assert.deepEqual(await listed(bindings, { tag: ["gcm", "all"] }), [carolGcm]);
      assert.deepEqual(await listed(bindings, { tag: ["fcm", "premium"] }), [bobFcm]);
      // Identity: any of them.
      const alices = sorted([aliceApn, aliceSms]);
      assert.deepEqual(await listed(bindings, { identity: ["alice"] }), alices);
      assert.deepEqual(
        await listed(bindings, { identity: ["alice", "bob"] }),
        sorted([aliceApn, aliceSms, bobFcm]),
      );
      assert.equal(lastRequest().url.search.match(/Identity=/g).length, 2);
      assert.deepEqual(await listed(bindings, { identity: ["nobody", "carol"] }), [carolGcm]);
      assert.deepEqual(
        await listed(bindings, { identity: ["alice", "bob"], tag: ["premium"] }),
        sorted([aliceApn, bobFcm]),
      );
      // Dates: the creation day in GMT, inclusive. twilio-node sends a Date as its UTC day
      // (YYYY-MM-DD) and a string as it is.
      const today = utcDay((await bindings(aliceApn).fetch()).dateCreated);
      const yesterday = utcDay(today, -1);
      const tomorrow = utcDay(today, 1);
      const day = today.toISOString().slice(0, 10);
      assert.deepEqual(await listed(bindings, { startDate: today }), everyone);
      assert.equal(lastRequest().url.searchParams.get("StartDate"), day);
      assert.deepEqual(await listed(bindings, { endDate: today }), everyone);
      assert.deepEqual(await listed(bindings, { startDate: day, endDate: day }), everyone);
      const around = { startDate: yesterday, endDate: tomorrow };
      assert.deepEqual(await listed(bindings, around), everyone);
      assert.deepEqual(await listed(bindings, { endDate: yesterday }), []);
      assert.deepEqual(await listed(bindings, { startDate: tomorrow }), []);
      assert.deepEqual(
        await listed(bindings, { startDate: today, tag: ["premium"], identity: ["bob", "carol"] }),
        [bobFcm],
      );
    },
  ],
  [
    "pages: page() with nextPage()/previousPage(), each(), list({limit}) and PageSize",
    async () => {
      const service = await newService({ friendlyName: uniqueName("node e2e paging") });
      const bindings = services(service.sid).bindings;
      const seven = await createAll(
        bindings,
        Array.from({ length: 7 }, (_, n) => ({
          identity: `user-${n % 3}`,
          bindingType: "fcm",
          address: `fcm-token-${n}`,
          tag: ["t"],
        })),
      );

      const first = await bindings.page({ pageSize: 3 });
      assert.equal(lastRequest().url.searchParams.get("PageSize"), "3");
      const second = await first.nextPage();
      const third = await second.nextPage();
      assert.ok(new URL(first.nextPageUrl).host === apiHost, "next_page_url is on the local API");
      assert.deepEqual([first, second, third].map((page) => page.instances.length), [3, 3, 1]);
      const pages = [first, second, third].map((page) => sidsOf(page.instances));
      assert.deepEqual(pages.flat(), seven, "creation order, each binding once");
      assert.equal(third.nextPage(), undefined); // no next page: undefined, not a promise
      assert.equal(first.previousPage(), undefined);
      assert.equal(first._payload.meta.page_size, 3);

      const backToSecond = await third.previousPage();
      const backToFirst = await backToSecond.previousPage();
      assert.deepEqual(sidsOf(backToSecond.instances), pages[1]);
      assert.deepEqual(sidsOf(backToFirst.instances), pages[0]);
      assert.equal(backToFirst.previousPage(), undefined);

      // Filters hold on every page.
      const filtered = [];
      const filters = { identity: ["user-0", "user-1"], tag: ["t", "fcm"] };
      let page = await bindings.page({ ...filters, pageSize: 2 });
      while (page) {
        filtered.push(sidsOf(page.instances));
        page = await page.nextPage();
      }
      assert.deepEqual(filtered.map((sids) => sids.length), [2, 2, 1]);
      assert.deepEqual(filtered.flat(), seven.filter((_, n) => n % 3 !== 2));

      // each(): every binding once, in pages of 2 (4 requests).
      const before = wire.sent.length;
      const streamed = [];
      await bindings.each({ pageSize: 2 }, (binding) => streamed.push(binding.sid));
      assert.deepEqual(streamed, seven);
      assert.equal(wire.sent.length - before, 4);
      // each() stops when its callback says done.
      const stopped = [];
      await bindings.each({ pageSize: 2 }, (binding, done) => {
        stopped.push(binding.sid);
        if (stopped.length === 3) done();
      });
      assert.deepEqual(stopped, seven.slice(0, 3));

      // list({limit}): the limit doubles as PageSize when none is given.
      const limited = sidsOf(await bindings.list({ limit: 5 }));
      assert.deepEqual(limited, seven.slice(0, 5));
      assert.equal(lastRequest().url.searchParams.get("PageSize"), "5");
      assert.deepEqual(sidsOf(await bindings.list({ pageSize: 2 })), seven);
      assert.deepEqual(sidsOf(await bindings.list({ limit: 5, pageSize: 2 })), seven.slice(0, 5));
      // Above the API's maximum of 1000: clamped, not refused.
      assert.deepEqual(sidsOf(await bindings.list({ limit: 2000 })), seven);
      assert.equal(lastRequest().url.searchParams.get("PageSize"), "2000");
      const big = await bindings.page({ pageSize: 2000 });
      assert.equal(big._payload.meta.page_size, 1000);
      assert.deepEqual(sidsOf(big.instances), seven);
    },
  ],
  [
    "a binding is deleted (true), then it is 404 to fetch and to delete",
    async () => {
      const { bindings } = state;
      const binding = await bindings.create({
        identity: "gina",
        bindingType: "gcm",
        address: "gcm-gina",
      });
      assert.equal(await bindings(binding.sid).remove(), true);
      assert.equal(lastRequest().method, "DELETE");
      await assertNotFound(bindings(binding.sid).fetch());
      await assertNotFound(bindings(binding.sid).remove());
      assert.deepEqual(await listed(bindings, { identity: ["gina"] }), []);
    },
  ],
  [
    "an API key made with notify-admin works as twilio(keySid, keySecret, {accountSid})",
    async () => {
      const key = admin("keys", "create", account.accountSid);
      assert.match(key.sid, KEY_SID);
      assert.equal(key.account_sid, account.accountSid);
      const { accountSid } = account;
      const keyClient = clientFor({ username: key.sid, password: key.secret, accountSid });
      const keyServices = keyClient.notify.v1.services;
      const { service } = state;

      assert.equal((await keyServices(service.sid).fetch()).sid, service.sid);
      const bindings = keyServices(service.sid).bindings;
      const binding = await bindings.create({
        identity: "kim",
        bindingType: "apn",
        address: "apn-kim",
      });
      assert.equal(binding.accountSid, account.accountSid);
      assert.deepEqual(sidsOf(await bindings.list({ identity: ["kim"] })), [binding.sid]);
      assert.equal((await state.bindings(binding.sid).fetch()).identity, "kim");
      assert.equal(await bindings(binding.sid).remove(), true);

      const own = await keyServices.create({ friendlyName: uniqueName("node e2e by key") });
      created.push([keyClient, own.sid]);
      assert.equal(own.accountSid, account.accountSid);

      const wrongSecret = clientFor({ username: key.sid, password: "x".repeat(32), accountSid });
      await assertRestError(wrongSecret.notify.v1.services(service.sid).fetch(), 401, 20003);
    },
  ],
  [
    "wrong credentials are 401 / 20003 on every operation",
    async () => {
      const { service } = state;
      const wrongToken = clientFor({ ...account, password: "0".repeat(32) });
      const unknownSid = "AC" + "0".repeat(32);
      const stranger = clientFor({
        username: unknownSid,
        password: "0".repeat(32),
        accountSid: unknownSid,
      });
      const newBinding = { identity: "x", bindingType: "apn", address: "t" };
      for (const bad of [wrongToken, stranger]) {
        const badServices = bad.notify.v1.services;
        const bindings = badServices(service.sid).bindings;
        await assertRestError(badServices(service.sid).fetch(), 401, 20003);
        await assertRestError(badServices.create({ friendlyName: "nope" }), 401, 20003);
        await assertRestError(badServices.list(), 401, 20003);
        await assertRestError(bindings.create(newBinding), 401, 20003);
        await assertRestError(bindings(state.created.apn.sid).fetch(), 401, 20003);
        await assertRestError(bindings.list(), 401, 20003);
        await assertRestError(bindings(state.created.apn.sid).remove(), 401, 20003);
      }
      const apnSid = state.created.apn.sid;
      assert.equal((await state.bindings(apnSid).fetch()).sid, apnSid); // still there
    },
  ],
  [
    "another account's Service and its bindings are 404 / 20404, and unlisted",
    async () => {
      const { service } = state;
      const apnSid = state.created.apn.sid;
      const theirs = otherClient.notify.v1.services;
      const bindings = theirs(service.sid).bindings;
      await assertNotFound(theirs(service.sid).fetch());
      await assertNotFound(theirs(service.sid).update({ friendlyName: "taken" }));
      await assertNotFound(theirs(service.sid).remove());
      await assertNotFound(bindings(apnSid).fetch());
      await assertNotFound(bindings.list());
      await assertNotFound(bindings.create({ identity: "eve", bindingType: "apn", address: "t" }));
      await assertNotFound(bindings(apnSid).remove());
      assert.ok(!sidsOf(await theirs.list()).includes(service.sid));

      // And the other way round.
      const otherService = await newService(
        { friendlyName: uniqueName("node e2e other") },
        otherClient,
      );
      await assertNotFound(services(otherService.sid).fetch());
      await assertNotFound(services(otherService.sid).bindings.list());
      assert.ok(!sidsOf(await services.list()).includes(otherService.sid));

      assert.equal((await state.bindings(apnSid).fetch()).sid, apnSid); // untouched
      assert.equal((await services(service.sid).fetch()).friendlyName, service.friendlyName);
    },
  ],
  [
    "a notification is created with twilio-node and answers Twilio's JSON at once",
    async () => {
      const notifications = clientFor(account).notify.v1.services(state.service.sid).notifications;
      const notification = await notifications.create({
        identity: ["alice", "bob"],
        body: "Hi",
        title: "Hello",
        data: { order: "42" },
        priority: "low",
        ttl: 600,
      });
      assert.match(notification.sid, /^NT[0-9a-f]{32}$/);
      assert.equal(notification.accountSid, account.accountSid);
      assert.equal(notification.serviceSid, state.service.sid);
      assert.deepEqual(notification.identities, ["alice", "bob"]);
      assert.equal(notification.body, "Hi");
      assert.equal(notification.title, "Hello");
      assert.deepEqual(notification.data, { order: "42" });
      assert.equal(notification.priority, "low");
      assert.equal(notification.ttl, 600);
      await assertRestError(notifications.create({ body: "to nobody" }), 400, 20001);
      await assertRestError(
        notifications.create({ identity: ["alice"], data: { twi_body: "x" } }),
        400,
        20001,
      );
    },
  ],
  [
    "a Service is updated, listed and paged, then deleted with its bindings",
    async () => {
      const { service, bindings } = state;
      const renamed = uniqueName("node e2e renamed");
      const updated = await services(service.sid).update({
        friendlyName: renamed,
        defaultApnNotificationProtocolVersion: "5",
        logEnabled: true,
      });
      assert.equal(updated.sid, service.sid);
      assert.equal(updated.friendlyName, renamed);
      assert.equal(updated.defaultApnNotificationProtocolVersion, "5");
      assert.equal(updated.logEnabled, true);
      assert.equal(updated.deliveryCallbackEnabled, true); // not given: unchanged
      assert.deepEqual(updated.dateCreated, service.dateCreated);
      assert.ok(updated.dateUpdated >= service.dateUpdated);
      const binding = await bindings.create({
        identity: "lee",
        bindingType: "apn",
        address: "apn-lee",
      });
      assert.equal(binding.notificationProtocolVersion, "5", "the Service's new default");

      assert.deepEqual(sidsOf(await services.list({ friendlyName: renamed })), [service.sid]);
      const everyOwn = sidsOf(await services.list({ pageSize: 1 }));
      assert.equal(new Set(everyOwn).size, everyOwn.length);
      for (const [, sid] of created.filter(([by]) => by !== otherClient)) {
        assert.ok(everyOwn.includes(sid), `${sid} is not listed`);
      }
      const firstPage = await services.page({ pageSize: 1 });
      assert.equal(firstPage.instances.length, 1);
      const secondPage = await firstPage.nextPage();
      assert.equal(secondPage.instances.length, 1);
      assert.notEqual(secondPage.instances[0].sid, firstPage.instances[0].sid);

      assert.equal(await services(service.sid).remove(), true);
      await assertNotFound(services(service.sid).fetch());
      await assertNotFound(bindings(binding.sid).fetch());
      await assertNotFound(bindings.list());
      await assertNotFound(bindings.create({ identity: "lee", bindingType: "apn", address: "t2" }));
      assert.deepEqual(sidsOf(await services.list({ friendlyName: renamed })), []);
    },
  ],
];

async function deleteCreatedServices() {
  for (const [by, sid] of created) {
    try {
      await by.notify.v1.services(sid).remove();
    } catch (error) {
      if (!(error instanceof RestException && error.status === 404)) throw error;
    }
  }
}

function describe(request) {
  return `${request.method} ${request.url.href}${request.body ? `  ${request.body}` : ""}`;
}

let passed = 0;
let failed = 0;
const started = performance.now();
for (const [index, [name, run]] of steps.entries()) {
  const stepStarted = performance.now();
  try {
    await run();
    passed += 1;
    console.log(`ok ${index + 1} - ${name} (${Math.round(performance.now() - stepStarted)} ms)`);
  } catch (error) {
    failed += 1;
    console.log(`not ok ${index + 1} - ${name}`);
    console.log(error?.stack ?? error);
    console.log("the last requests sent:");
    for (const request of wire.sent.slice(-5)) console.log(`  ${describe(request)}`);
    break;
  }
}
try {
  await deleteCreatedServices();
} catch (error) {
  failed += 1;
  console.log(`not ok - deleting the scenario's Services: ${error?.stack ?? error}`);
}
if (wire.refused.length > 0) {
  failed += 1;
  console.log("not ok - requests that were not for the local API were refused:");
  for (const request of wire.refused) console.log(`  ${describe(request)}`);
}
const skipped = steps.length - passed - (passed < steps.length ? 1 : 0);
console.log(
  `${wire.sent.length} requests sent, every one to ${apiHost} ` +
    `(${wire.refused.length} refused); ${Math.round(performance.now() - started)} ms in all`,
);
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
process.exitCode = failed === 0 ? 0 : 1;
